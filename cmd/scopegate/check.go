package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/policy"
)

// printRoutes writes the compiled route table, the issuers and the
// upstreams of a compiled config, for `scopegate check`.
func printRoutes(w io.Writer, cfg *config.Compiled) {
	table := cfg.Table
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tMETHODS\tPATH\tUPSTREAM\tREQUIRES")
	for _, r := range table.Routes() {
		methods := "*"
		if len(r.Methods) > 0 {
			methods = strings.Join(r.Methods, ",")
		}
		req := "public"
		if !r.Public {
			req = "token"
			if len(r.Scopes) > 0 {
				req = "scopes: " + strings.Join(r.Scopes, " ")
			}
		}
		if r.Shadow {
			req += " (shadow: refusals are forwarded, recorded as would_deny)"
		}
		req += authzSummary(r, cfg.Routes[r.Index])
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, methods, r.Pattern, r.Upstream, req)
	}
	fmt.Fprintln(tw, "(any other request: 404, never forwarded)")
	_ = tw.Flush()

	fmt.Fprintln(w, "\nISSUERS")
	for _, is := range cfg.Issuers {
		jwks := is.JWKSURI
		if jwks == "" {
			jwks = "(discovered)"
		}
		fmt.Fprintf(w, "  %s  audiences=%s  jwks=%s%s\n", is.Issuer, strings.Join(is.Audiences, ","), jwks, introspectionSummary(is.Introspection))
	}
	a := cfg.Audit
	limit := fmt.Sprintf("max_records_per_second=%d burst=%d (refusal records over it are dropped and counted)", a.MaxRecordsPerSecond, a.Burst)
	if a.MaxRecordsPerSecond < 0 {
		limit = "no rate cap"
	}
	fmt.Fprintf(w, "\nAUDIT\n  output=%s  %s\n", a.Output, limit)
	fmt.Fprintln(w, "\nUPSTREAMS")
	for _, n := range cfg.UpstreamNames() {
		u := cfg.Upstreams[n]
		fmt.Fprintf(w, "  %s  %s  forward_authorization=%t\n", n, u.URL, u.ForwardAuthorization)
	}
}

// introspectionSummary describes an issuer's introspection, for check.
func introspectionSummary(ic *config.IntrospectionConfig) string {
	if ic == nil {
		return ""
	}
	ep := ic.Endpoint
	if ep == "" {
		ep = "(discovered)"
	}
	prefixes := "any opaque token"
	if len(ic.TokenPrefixes) > 0 {
		prefixes = "prefixes " + strings.Join(ic.TokenPrefixes, ",")
	}
	return fmt.Sprintf("\n    introspection=%s  %s  auth=%s  cache_ttl=%s (the revocation delay)", ep, prefixes, ic.AuthMethod, ic.CacheTTL.D())
}

// authzSummary describes a route's rules beyond scopes, for check.
func authzSummary(r *policy.Route, rc policy.RouteConfig) string {
	var b strings.Builder
	if rc.Introspect {
		b.WriteString("; every token introspected at its issuer, no cache")
	}
	if m := r.Models; m != nil {
		switch {
		case m.List && len(m.RulesFrom) > 0:
			names := make([]string, len(m.RulesFrom))
			for i, src := range m.RulesFrom {
				names[i] = src.Name
			}
			b.WriteString("; model list filtered by " + strings.Join(names, ","))
		case m.List:
			b.WriteString("; model list filtered by its own rules")
		case rc.Models.ScopeTemplate != "":
			fmt.Fprintf(&b, "; model (%s) requires %s", m.Source, rc.Models.ScopeTemplate)
		default:
			def := rc.Models.Default
			if def == "" {
				def = "deny"
			}
			fmt.Fprintf(&b, "; model (%s): %d rule(s), default %s", m.Source, len(rc.Models.Rules), def)
		}
	}
	if r.Principals != nil {
		b.WriteString("; principals: " + strings.Join(r.Principals, ","))
	}
	if r.MaxDelegationDepth != nil {
		fmt.Fprintf(&b, "; max delegation depth %d", *r.MaxDelegationDepth)
	}
	if r.Clients != nil {
		b.WriteString("; clients: " + strings.Join(r.Clients, ","))
	}
	if n := len(rc.Conditions); n > 0 {
		fmt.Fprintf(&b, "; %d condition(s)", n)
	}
	return b.String()
}
