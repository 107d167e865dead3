package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/mcp"
	"github.com/scopegate/scopegate/policy"
	"github.com/scopegate/scopegate/policy/conditions"
)

// Compiled is a valid configuration with everything the gateway derives
// from it made once: the route table (routes and model rules), the CEL
// conditions, the usage limits and the MCP tables, by route index. `serve`,
// `check` and `explain` all use this one value; nothing recompiles it.
// A Compiled is immutable: build a new one to change anything.
type Compiled struct {
	// Config is the validated configuration, defaults applied.
	*Config
	// Table matches requests to routes.
	Table *policy.Table
	// Conditions are each route's compiled CEL conditions, in order.
	Conditions map[int][]*conditions.Program
	// Limits are each route's usage limits.
	Limits map[int][]*limits.Limit
	// MCP are the tool tables of the routes with an mcp block.
	MCP map[int]*mcp.Table
	// TrustedProxies are server.trusted_proxies, parsed.
	TrustedProxies []netip.Prefix
	// Hash identifies the configuration (the first 8 bytes of the SHA-256
	// of its canonical YAML, defaults applied, in hex): the config_hash of
	// audit records and of scopegate_config_info.
	Hash string
}

// Option tunes Compile, Parse and LoadFile.
type Option func(*options)

type options struct {
	prev *Compiled
}

// Reusing lets a compilation take the CEL programs of prev (the config in
// force, when reloading) for conditions whose source is unchanged: a
// compiled program is immutable and safe for concurrent use, and a reload
// that leaves a condition alone need not compile it again. prev may be nil.
func Reusing(prev *Compiled) Option { return func(o *options) { o.prev = prev } }

// Compile applies the defaults to cfg, validates it and compiles it. Every
// problem is reported at once, as Problems. cfg must not change afterwards.
func Compile(cfg *Config, opts ...Option) (*Compiled, error) {
	cfg.ApplyDefaults()
	return compile(cfg, nil, opts)
}

// compile validates cfg (defaults applied) and compiles it; ps are the
// problems found before (unknown keys, unset variables, type errors).
func compile(cfg *Config, ps Problems, opts []Option) (*Compiled, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	v := &validator{cfg: cfg, ps: ps}
	cfg.validate(v)
	c := &Compiled{Config: cfg}
	c.compileRoutes(v, o.prev)
	if len(v.ps) > 0 {
		sortProblems(v.ps)
		return nil, v.ps
	}
	for _, p := range cfg.Server.TrustedProxies {
		pfx, _ := parsePrefix(p) // validated
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("hashing config: %w", err)
	}
	sum := sha256.Sum256(b)
	c.Hash = hex.EncodeToString(sum[:8])
	return c, nil
}

// compileRoutes compiles the route table, the conditions, the limits and
// the MCP tables, adding a problem for each thing that does not compile.
func (c *Compiled) compileRoutes(v *validator, prev *Compiled) {
	cfg := c.Config
	if len(cfg.Routes) == 0 {
		v.add("routes", "no routes: every request would be refused; add at least one route")
		return
	}
	table, err := policy.Compile(cfg.Routes, func(name string) bool { _, ok := cfg.Upstreams[name]; return ok })
	var ce *policy.ConfigError
	for _, e := range unjoin(err) {
		if errors.As(e, &ce) {
			msg := ce.Message
			if strings.HasSuffix(ce.Field, ".upstream") {
				if names := cfg.UpstreamNames(); len(names) > 0 {
					msg += " (defined: " + strings.Join(names, ", ") + ")"
				} else {
					msg += " (no upstreams are defined)"
				}
			}
			v.add(ce.Field, "%s", msg)
		} else {
			v.add("routes", "%v", e)
		}
	}
	c.Table = table
	c.Conditions = compileConditions(v, cfg.Routes, prev)
	c.Limits = compileLimits(v, cfg.Routes)
	c.MCP = compileMCP(v, cfg.Routes)
	protected := false
	for _, r := range cfg.Routes {
		protected = protected || !r.Public
	}
	if protected && len(cfg.Issuers) == 0 {
		v.add("issuers", "protected routes need at least one issuer to verify tokens")
	}
}

// compileConditions compiles every route's conditions, taking the programs
// of prev for sources it compiled. Each problem names the route and the
// condition, with CEL's error.
func compileConditions(v *validator, routes []policy.RouteConfig, prev *Compiled) map[int][]*conditions.Program {
	known := map[string]*conditions.Program{}
	if prev != nil {
		for _, ps := range prev.Conditions {
			for _, p := range ps {
				known[p.Source] = p
			}
		}
	}
	out := map[int][]*conditions.Program{}
	var env *conditions.Env
	for i, rc := range routes {
		for k, src := range rc.Conditions {
			if p := known[src]; p != nil {
				out[i] = append(out[i], p)
				continue
			}
			if env == nil {
				e, err := conditions.NewEnv()
				if err != nil {
					v.add("routes", "%v", err)
					return nil
				}
				env = e
			}
			p, err := env.Compile(src)
			if err != nil {
				v.add(fmt.Sprintf("routes[%d].conditions[%d]", i, k), "route %q: condition %q does not compile: %v", rc.Name, src, err)
				continue
			}
			known[src] = p
			out[i] = append(out[i], p)
		}
	}
	return out
}

// compileLimits compiles every route's usage limits, by route index.
func compileLimits(v *validator, routes []policy.RouteConfig) map[int][]*limits.Limit {
	out := map[int][]*limits.Limit{}
	for i, rc := range routes {
		ls, lps := limits.Compile(i, rc)
		for _, p := range lps {
			v.add(p.Field, "%s", p.Message)
		}
		if len(ls) > 0 {
			out[i] = ls
		}
	}
	return out
}

// compileMCP compiles every route's mcp block, by route index.
func compileMCP(v *validator, routes []policy.RouteConfig) map[int]*mcp.Table {
	out := map[int]*mcp.Table{}
	for i, rc := range routes {
		if rc.MCP == nil {
			continue
		}
		t, err := mcp.Compile(*rc.MCP)
		if err != nil {
			v.add(fmt.Sprintf("routes[%d].mcp", i), "%s", err.Error())
			continue
		}
		out[i] = t
	}
	return out
}
