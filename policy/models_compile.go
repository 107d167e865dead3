package policy

import (
	"fmt"
	"slices"
	"strings"
)

// compileModels validates route i's models block and compiles it; report
// takes each problem. RulesFrom is resolved later, by resolveModelLists,
// once every route is known.
func compileModels(at string, rc *RouteConfig, segs []segment, report func(field, format string, args ...any)) *ModelPolicy {
	mc := rc.Models
	if mc == nil {
		return nil
	}
	at += ".models"
	p := &ModelPolicy{List: mc.List}
	if rc.Public {
		report(at, "a public route cannot have model rules: a model decision needs a token's scopes; remove models, or remove public: true")
	}
	hasTemplate, hasRules := mc.ScopeTemplate != "", mc.Rules != nil
	if mc.List {
		for _, f := range []struct {
			name string
			set  bool
		}{{"source", mc.Source != ""}, {"param", mc.Param != ""}, {"max_body_bytes", mc.MaxBodyBytes != 0}} {
			if f.set {
				report(at+"."+f.name, "a list route (list: true) reads no model from its request: remove %s", f.name)
			}
		}
		switch {
		case len(mc.RulesFrom) > 0 && (hasTemplate || hasRules):
			report(at+".rules_from", "name the routes whose rules filter the list, or give this route its own scope_template or rules, not both")
		case len(mc.RulesFrom) == 0 && !hasTemplate && !hasRules:
			report(at+".rules_from", "a list route needs rules_from (routes whose model rules decide, e.g. [chat]) or its own scope_template or rules")
		}
	} else {
		if len(mc.RulesFrom) > 0 {
			report(at+".rules_from", "rules_from only applies to a list route: add list: true, or remove rules_from")
		}
		if hasTemplate == hasRules {
			report(at, "give exactly one of scope_template (e.g. \"model:{model}\") or rules (a table of models and scopes)")
		}
		p.Source = mc.Source
		if p.Source == "" {
			p.Source = ModelSourceBody
		}
		switch p.Source {
		case ModelSourceBody:
			if mc.Param != "" {
				report(at+".param", "param only applies with source: path")
			}
			p.MaxBodyBytes = mc.MaxBodyBytes
			if p.MaxBodyBytes == 0 {
				p.MaxBodyBytes = DefaultModelBodyBytes
			}
			if p.MaxBodyBytes < 0 {
				report(at+".max_body_bytes", "must not be negative")
			}
		case ModelSourcePath:
			if mc.MaxBodyBytes != 0 {
				report(at+".max_body_bytes", "only applies with source: body: a path-sourced route streams its body")
			}
			p.Param = mc.Param
			if p.Param == "" {
				p.Param = "model"
			}
			if segs != nil && !slices.ContainsFunc(segs, func(s segment) bool { return s.name == p.Param && (s.kind == segWild || s.kind == segMulti) }) {
				report(at+".param", "the path %q has no wildcard {%s} (or {%s...}) to read the model from", rc.Path, p.Param, p.Param)
			}
		default:
			report(at+".source", "%q is not a model source: write body (the JSON body's model) or path (a path wildcard)", mc.Source)
		}
	}
	p.hasDecision = hasTemplate || hasRules
	if hasTemplate {
		if !strings.Contains(mc.ScopeTemplate, "{model}") {
			report(at+".scope_template", "%q does not contain {model}: every model would require the same scope; use the route's scopes instead", mc.ScopeTemplate)
		} else if msg := checkScope(strings.ReplaceAll(mc.ScopeTemplate, "{model}", "m")); msg != "" {
			report(at+".scope_template", "%s", msg)
		}
		if mc.Default != "" {
			report(at+".default", "default only applies with rules: a scope template covers every model")
		}
		p.template = mc.ScopeTemplate
	}
	if hasRules {
		compileModelRules(at, mc, p, report)
	}
	return p
}

// resolveModelLists points every list route at the routes its rules_from
// names, which must exist and be request routes with model rules.
func resolveModelLists(routes []*Route, byName map[string]int, cfgs []RouteConfig, report func(field, format string, args ...any)) {
	for i, r := range routes {
		if r.Models == nil || !r.Models.List {
			continue
		}
		for k, name := range cfgs[i].Models.RulesFrom {
			f := fmt.Sprintf("routes[%d].models.rules_from[%d]", i, k)
			j, ok := byName[name]
			switch {
			case !ok:
				report(f, "no route is named %q", name)
			case routes[j].Models == nil || routes[j].Models.List:
				report(f, "route %q has no model rules to borrow: give it a models block with scope_template or rules", name)
			default:
				r.Models.RulesFrom = append(r.Models.RulesFrom, routes[j])
			}
		}
	}
}

// compileModelRules compiles a route's model rules table and default into
// p: exact names in a map, globs in order.
func compileModelRules(at string, mc *ModelsConfig, p *ModelPolicy, report func(field, format string, args ...any)) {
	p.exact = map[string][]string{}
	seen := map[string]int{}
	for k, rule := range mc.Rules {
		f := fmt.Sprintf("%s.rules[%d]", at, k)
		if msg := CheckModelName(rule.Model); msg != "" {
			report(f+".model", "%s: write a model name or a glob such as \"gpt-4o*\"", msg)
		} else if j, dup := seen[rule.Model]; dup {
			report(f+".model", "%q is already listed as rules[%d]", rule.Model, j)
		} else {
			seen[rule.Model] = k
		}
		if rule.Scopes == nil {
			report(f+".scopes", "missing scopes: list the scopes the model requires, or write scopes: [] if the route's scopes suffice")
		}
		for n, s := range rule.Scopes {
			if msg := checkScope(s); msg != "" {
				report(fmt.Sprintf("%s.scopes[%d]", f, n), "%s", msg)
			}
		}
		r := ModelRule{Model: rule.Model, Scopes: slices.Clone(rule.Scopes)}
		if r.Scopes == nil {
			r.Scopes = []string{}
		}
		if strings.Contains(r.Model, "*") {
			p.globs = append(p.globs, r)
		} else {
			p.exact[r.Model] = r.Scopes
		}
	}
	switch d := strings.TrimSpace(mc.Default); d {
	case "", "deny":
	case "allow":
		p.defAllow, p.defScopes = true, []string{}
	default:
		p.defAllow = true
		for s := range strings.FieldsSeq(d) {
			if msg := checkScope(s); msg != "" {
				report(at+".default", "%s (default is deny, allow, or space-separated scopes)", msg)
			}
			p.defScopes = append(p.defScopes, s)
		}
	}
}
