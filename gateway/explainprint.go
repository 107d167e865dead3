package gateway

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteText prints the explanation for a person, one fact per line.
func (e *Explanation) WriteText(w io.Writer) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-10s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	p("request", "%s %s", e.Method, e.Target)
	if e.PathRefused != "" {
		p("path", "refused before any route is looked up: %s", e.PathRefused)
	} else if e.CanonicalPath != "" {
		p("path", "%s (canonical form, the one routes match)", e.CanonicalPath)
	}
	switch r := e.Route; {
	case r != nil:
		methods := "any method"
		if len(r.Methods) > 0 {
			methods = strings.Join(r.Methods, ",")
		}
		p("route", "%s (%s %s -> upstream %s, mode %s)", r.Name, methods, r.Pattern, r.Upstream, r.Mode)
		switch {
		case r.Public:
			p("requires", "nothing: a public route")
		case len(r.Scopes) == 0:
			p("requires", "a valid bearer token (any scopes)")
		default:
			p("requires", "a valid bearer token with scopes: %s", strings.Join(r.Scopes, " "))
		}
		for _, l := range r.Limits {
			p("limit", "%s", l)
		}
	case e.PathRefused == "" && e.CanonicalPath != "":
		p("route", "none matches %s %s: refused, never forwarded", e.Method, e.CanonicalPath)
	}
	if c := e.Claims; c != nil {
		p("token", "valid signature; iss=%s sub=%q client_id=%q scopes=%q expires %s",
			c.Issuer, c.Subject, c.ClientID, strings.Join(c.Scopes, " "), c.Expires.UTC().Format(time.RFC3339))
	}
	if u := e.Unverified; u != nil {
		if u.Malformed != "" {
			p("token", "unreadable: %s", u.Malformed)
		} else {
			exp := "none"
			if !u.Expires.IsZero() {
				exp = u.Expires.Format(time.RFC3339)
				if d := u.Expires.Sub(e.now()); d < 0 {
					exp += fmt.Sprintf(" (expired %s ago)", (-d).Round(time.Second))
				} else {
					exp += fmt.Sprintf(" (in %s)", d.Round(time.Second))
				}
			}
			p("token", "says (unverified): iss=%q aud=%q exp=%s typ=%q alg=%q kid=%q",
				u.Issuer, u.Audience, exp, u.Typ, u.Alg, u.KID)
		}
		for _, x := range e.Expected {
			p("  trusts", "iss=%q aud one of %q algs %q", x.Issuer, x.Audiences, x.Algorithms)
		}
	}
	if e.KeysUnavailable {
		p("keys", "unavailable: the token cannot be checked until its issuer's signing keys are fetched")
		for _, is := range e.Issuers {
			last := "never"
			if !is.LastRefresh.IsZero() {
				last = is.LastRefresh.UTC().Format(time.RFC3339)
			}
			p("  issuer", "%s ready=%t keys=%d last_refresh=%s refresh_failures=%d", is.Issuer, is.Ready, is.Keys, last, is.Failures)
		}
	}
	status := fmt.Sprintf("HTTP %d", e.Status)
	if e.Forward != nil && e.Status == 0 {
		status = "the upstream's answer"
	}
	p("decision", "%s (reason %s): the client gets %s", e.Decision, e.Reason, status)
	if e.Detail != "" {
		p("detail", "%s", e.Detail)
	}
	if len(e.Missing) > 0 {
		p("missing", "%s", strings.Join(e.Missing, " "))
	}
	if f := e.Forward; f != nil {
		p("forward", "%s %s (not contacted)", f.Method, f.URL)
		names := make([]string, 0, len(f.Identity))
		for n := range f.Identity {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p("  header", "%s: %s", n, f.Identity[n])
		}
		if e.Decision == decisionWouldDeny {
			p("shadow", "this route is in shadow mode: it lets the request through without identity headers; in enforce mode it would refuse it")
		}
	} else {
		p("forward", "nothing is forwarded")
	}
}
