package gateway

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/scopegate/scopegate/policy"
)

// PrintRoutes writes the compiled route table, the issuers and the
// upstreams of a valid config, for `scopegate check`.
func PrintRoutes(w io.Writer, cfg *Config) {
	table, err := policy.Compile(cfg.Routes, func(n string) bool { _, ok := cfg.Upstreams[n]; return ok })
	if err != nil {
		fmt.Fprintf(w, "routes: %v\n", err)
		return
	}
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
		fmt.Fprintf(w, "  %s  audiences=%s  jwks=%s\n", is.Issuer, strings.Join(is.Audiences, ","), jwks)
	}
	a := cfg.Audit
	limit := fmt.Sprintf("max_records_per_second=%d burst=%d (refusal records over it are dropped and counted)", a.MaxRecordsPerSecond, a.Burst)
	if a.MaxRecordsPerSecond < 0 {
		limit = "no rate cap"
	}
	fmt.Fprintf(w, "\nAUDIT\n  output=%s  %s\n", a.Output, limit)
	fmt.Fprintln(w, "\nUPSTREAMS")
	names := make([]string, 0, len(cfg.Upstreams))
	for n := range cfg.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := cfg.Upstreams[n]
		fmt.Fprintf(w, "  %s  %s  forward_authorization=%t\n", n, u.URL, u.ForwardAuthorization)
	}
}
