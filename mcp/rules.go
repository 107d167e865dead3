package mcp

import (
	"errors"
	"fmt"
	"github.com/scopegate/scopegate/policy"
	"strings"
)

// Config is the `mcp:` block of a route (policy.MCPConfig, documented
// there so that the route configuration stays in one package).
type Config = policy.MCPConfig

// Rule is one tools, resources or prompts rule (policy.MCPRule).
type Rule = policy.MCPRule

// Table is a compiled Config.
type Table struct {
	cfg                      Config
	toolTpl, promptTpl, rTpl string
	origins                  map[string]bool // normalized AllowedOrigins
}

// Default values.
const (
	DefaultMaxArgumentBytes = 16384
	DefaultMaxBodyBytes     = 1 << 20
	defaultDeny             = "deny"
)

// Compile checks cfg and returns its table; every problem is reported,
// each naming its field.
func Compile(cfg Config) (*Table, error) {
	var errs []error
	switch cfg.Default {
	case "":
		cfg.Default = defaultDeny
	case "deny", "allow", "scopes":
	default:
		errs = append(errs, fmt.Errorf("mcp.default: %q is not deny, allow or scopes", cfg.Default))
	}
	if cfg.MaxArgumentBytes == 0 {
		cfg.MaxArgumentBytes = DefaultMaxArgumentBytes
	} else if cfg.MaxArgumentBytes < 0 {
		errs = append(errs, errors.New("mcp.max_argument_bytes: must not be negative"))
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	} else if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("mcp.max_body_bytes: must not be negative"))
	}
	if cfg.ScopeTemplate != "" && !strings.Contains(cfg.ScopeTemplate, "{name}") {
		errs = append(errs, errors.New(`mcp.scope_template: must contain "{name}"`))
	} else if cfg.ScopeTemplate != "" && !IsScopeToken(strings.ReplaceAll(cfg.ScopeTemplate, "{name}", "x")) {
		errs = append(errs, errors.New(`mcp.scope_template: may hold only scope-token characters (printable ASCII without space, quote or backslash) besides "{name}"`))
	}
	check := func(field string, rules []Rule, uri bool) {
		for i, r := range rules {
			pat := r.Name
			if uri {
				pat = r.URI
			}
			switch {
			case pat == "":
				errs = append(errs, fmt.Errorf("mcp.%s[%d]: needs a %s", field, i, map[bool]string{false: "name", true: "uri"}[uri]))
			case !uri && r.URI != "", uri && r.Name != "":
				errs = append(errs, fmt.Errorf("mcp.%s[%d]: %s rules match by %s only", field, i, field, map[bool]string{false: "name", true: "uri"}[uri]))
			}
			for _, s := range r.Scopes {
				if !IsScopeToken(s) {
					errs = append(errs, fmt.Errorf("mcp.%s[%d].scopes: %q is not a scope", field, i, s))
				}
			}
		}
	}
	check("tools", cfg.Tools, false)
	check("prompts", cfg.Prompts, false)
	check("resources", cfg.Resources, true)
	origins := make(map[string]bool, len(cfg.AllowedOrigins))
	for i, o := range cfg.AllowedOrigins {
		n, ok := normalizeOrigin(o)
		if !ok {
			errs = append(errs, fmt.Errorf("mcp.allowed_origins[%d]: %q is not an origin: write scheme://host[:port], http or https, with no path", i, o))
			continue
		}
		origins[n] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t := &Table{cfg: cfg, toolTpl: "tool:{name}", promptTpl: "prompt:{name}", rTpl: "resource:{name}", origins: origins}
	if cfg.ScopeTemplate != "" {
		t.toolTpl = cfg.ScopeTemplate
	}
	return t, nil
}

// MaxArgumentBytes is the compiled bound on arguments for conditions.
func (t *Table) MaxArgumentBytes() int { return t.cfg.MaxArgumentBytes }

// MaxBodyBytes is the compiled cap on a POSTed body.
func (t *Table) MaxBodyBytes() int64 { return t.cfg.MaxBodyBytes }

// AllowBatches reports whether arrays of messages are accepted.
func (t *Table) AllowBatches() bool { return t.cfg.AllowBatches }

// Decision is the outcome for one message.
type Decision struct {
	Allow bool
	// Missing is the first needed scope the token lacks (for the
	// challenge's scope=), when that is why it is refused.
	Missing string
	// Reason says why, for the audit record and the error message.
	Reason string
}

// protocolMethods pass with the route's scopes: the lifecycle, utilities
// and the listings (which are filtered on the way back).
var protocolMethods = map[string]bool{
	"initialize": true, "ping": true,
	"tools/list": true, "resources/list": true, "resources/templates/list": true, "prompts/list": true,
	"logging/setLevel": true,
}

// Decide judges one message for a token holding the scopes has reports.
func (t *Table) Decide(m Message, has func(scope string) bool) Decision {
	switch {
	case m.Kind == Response:
		// The client's answer to a server request (sampling, elicitation,
		// roots): it calls nothing.
		return Decision{Allow: true, Reason: "response"}
	case strings.HasPrefix(m.Method, "notifications/"), protocolMethods[m.Method]:
		return Decision{Allow: true, Reason: "protocol method"}
	case m.Method == "tools/call":
		return t.judge(t.cfg.Tools, m.Name, false, t.toolTpl, "tool", has)
	case m.Method == "prompts/get", m.Method == "completion/complete" && m.Name != "":
		return t.judge(t.cfg.Prompts, m.Name, false, t.promptTpl, "prompt", has)
	case m.Method == "completion/complete":
		return t.judge(t.cfg.Resources, m.URI, true, t.rTpl, "resource", has)
	case m.Method == "resources/read", m.Method == "resources/subscribe", m.Method == "resources/unsubscribe":
		return t.judge(t.cfg.Resources, m.URI, true, t.rTpl, "resource", has)
	}
	if t.cfg.Default == "allow" {
		return Decision{Allow: true, Reason: "method allowed by default"}
	}
	return Decision{Reason: "method " + m.Method + " is not allowed on this route"}
}

// Allowed reports whether a token may use a listed tool ("tool"), prompt
// ("prompt") or resource ("resource", name being the URI). It decides as
// Decide does, without building the reason (a listing asks it per item).
func (t *Table) Allowed(kind, name string, has func(string) bool) bool {
	switch kind {
	case "tool":
		return t.allowed(t.cfg.Tools, name, false, t.toolTpl, has)
	case "prompt":
		return t.allowed(t.cfg.Prompts, name, false, t.promptTpl, has)
	case "resource":
		return t.allowed(t.cfg.Resources, name, true, t.rTpl, has)
	}
	return false
}

// match returns the first rule whose pattern matches name, or nil.
func match(rules []Rule, name string, uri bool) *Rule {
	for i := range rules {
		pat := rules[i].Name
		if uri {
			pat = rules[i].URI
		}
		if Glob(pat, name) {
			return &rules[i]
		}
	}
	return nil
}

// missing is the first of scopes the token lacks, or "".
func missing(scopes []string, has func(string) bool) string {
	for _, s := range scopes {
		if !has(s) {
			return s
		}
	}
	return ""
}

func (t *Table) allowed(rules []Rule, name string, uri bool, tpl string, has func(string) bool) bool {
	if r := match(rules, name, uri); r != nil {
		return !r.Deny && missing(r.Scopes, has) == ""
	}
	switch t.cfg.Default {
	case "allow":
		return true
	case "scopes":
		s := strings.ReplaceAll(tpl, "{name}", name)
		return IsScopeToken(s) && has(s)
	}
	return false
}

func (t *Table) judge(rules []Rule, name string, uri bool, tpl, kind string, has func(string) bool) Decision {
	if r := match(rules, name, uri); r != nil {
		pat := r.Name
		if uri {
			pat = r.URI
		}
		if r.Deny {
			return Decision{Reason: kind + " " + name + " is denied on this route"}
		}
		if s := missing(r.Scopes, has); s != "" {
			return Decision{Missing: s, Reason: kind + " " + name + " needs scope " + s}
		}
		return Decision{Allow: true, Reason: kind + " rule " + pat}
	}
	switch t.cfg.Default {
	case "allow":
		return Decision{Allow: true, Reason: kind + " allowed by default"}
	case "scopes":
		s := strings.ReplaceAll(tpl, "{name}", name)
		// A name that makes no OAuth scope-token (a space, a quote, a
		// backslash, a control or any non-ASCII character) cannot be
		// granted, nor named in the challenge (which would drop the
		// character and name another scope): only a rule can allow it.
		if !IsScopeToken(s) {
			return Decision{Reason: kind + " name cannot be made a scope"}
		}
		if !has(s) {
			return Decision{Missing: s, Reason: kind + " " + name + " needs scope " + s}
		}
		return Decision{Allow: true, Reason: "scope " + s}
	}
	return Decision{Reason: kind + " " + name + " is not allowed on this route"}
}

// IsScopeToken reports whether s is an OAuth 2.0 scope-token (RFC 6749
// section 3.3: one or more of %x21 / %x23-5B / %x5D-7E), the only form a
// scope can be granted in and named in an RFC 6750 challenge.
func IsScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// Glob reports whether name matches pattern, where `*` matches any run of
// characters and every other byte matches itself. It backtracks only to the
// last star, so it takes at most len(pattern)*len(name) steps.
func Glob(pattern, name string) bool {
	p, n, starP, starN := 0, 0, -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			starP, starN = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case starP >= 0:
			starN++
			p, n = starP+1, starN
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
