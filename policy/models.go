package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ModelsConfig is a route's `models:` block: scopes that depend on the model
// a request asks for, or, with List, the filtering of a model list response.
//
// A request route (List false) names where the model is (Source, Param) and
// what it requires: either ScopeTemplate or Rules, exactly one, with
// Default for models no rule lists. A list route (List true) filters the
// upstream's model list to the models the token may use, under the rules
// of the routes named in RulesFrom, or under its own ScopeTemplate or Rules.
type ModelsConfig struct {
	// Source is where the model name is read: "body" (the string member
	// "model" of a JSON object body, as in the OpenAI API) or "path" (the
	// path wildcard named by Param). Default "body". Not allowed with List.
	Source string `yaml:"source"`
	// Param names the path wildcard ({model} or {model...}) holding the
	// model, with Source "path". Default "model".
	Param string `yaml:"param"`
	// ScopeTemplate derives the one scope a model requires: every "{model}"
	// is replaced by the model name, e.g. "model:{model}" requires
	// "model:gpt-4o" for gpt-4o. A model name that would not form a valid
	// scope token (RFC 6749 3.3) is refused.
	ScopeTemplate string `yaml:"scope_template"`
	// Rules map model names and globs to the scopes they require. An
	// entry whose model contains no '*' matches that name exactly and
	// takes precedence over every glob; otherwise the first glob in
	// config order that matches wins.
	Rules []ModelRule `yaml:"rules"`
	// Default applies, with Rules, to a model no rule matches: "deny" (the
	// default: the model is refused whatever the token), "allow" (the
	// route's own scopes suffice), or a space-separated list of scopes the
	// model then requires.
	Default string `yaml:"default"`
	// MaxBodyBytes caps the request body, which a body-sourced route must
	// hold whole in memory to read the model before forwarding it byte for
	// byte. Larger bodies get 413 and are not forwarded. Default 1 MiB
	// (DefaultModelBodyBytes).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// List marks a route whose 200 response is an OpenAI model list
	// ({"object":"list","data":[{"id":...},...]}) to be filtered to the
	// models the token may use. Default false.
	List bool `yaml:"list"`
	// RulesFrom names the routes whose model rules decide which models a
	// list route shows: a model is listed when the token could use it on at
	// least one of them (their own scopes included). Only with List;
	// without it the list route's own ScopeTemplate or Rules decide.
	RulesFrom []string `yaml:"rules_from"`
}

// ModelRule is one entry of ModelsConfig.Rules.
type ModelRule struct {
	// Model is a model name, or a glob in which each '*' matches any run of
	// characters, '/' included ("gpt-4o*", "meta-llama/*", "*"). No other
	// character is special; matching is case-sensitive. Required.
	Model string `yaml:"model"`
	// Scopes the model requires, all of them, besides the route's.
	// Empty (`scopes: []`) means the route's scopes suffice. Required.
	Scopes []string `yaml:"scopes"`
}

// Model sources.
const (
	ModelSourceBody = "body"
	ModelSourcePath = "path"
)

// DefaultModelBodyBytes is the default ModelsConfig.MaxBodyBytes: 1 MiB.
const DefaultModelBodyBytes = 1 << 20

// MaxModelNameBytes is the longest model name accepted.
const MaxModelNameBytes = 256

// ModelPolicy is a compiled models block. It is immutable.
type ModelPolicy struct {
	Source       string // ModelSourceBody or ModelSourcePath; "" on a list route
	Param        string // the path wildcard, with ModelSourcePath
	MaxBodyBytes int64  // with ModelSourceBody
	// List is set on a list route; RulesFrom are then the routes whose
	// rules decide (nil: this policy's own).
	List      bool
	RulesFrom []*Route

	template    string
	exact       map[string][]string
	globs       []ModelRule
	defAllow    bool
	defScopes   []string // with defAllow: what an unlisted model requires
	hasDecision bool     // template or rules are set
}

// ModelDecision is the outcome of Route.DecideModel.
type ModelDecision struct {
	// Allowed: the model may be used with the granted scopes.
	Allowed bool
	// Listed is false when the model is refused whatever the token holds
	// (no rule matched and the default is deny).
	Listed bool
	// Required are the scopes the model requires besides the route's, in
	// rule order; Missing those of them and of the route's own scopes not
	// granted. Both nil when not Listed.
	Required, Missing []string
}

// CheckModelName returns why name cannot be judged as a model name, or "":
// it must be 1 to MaxModelNameBytes bytes of valid UTF-8 without control
// characters or U+FFFD.
func CheckModelName(name string) string {
	switch {
	case name == "":
		return "the model name is empty"
	case len(name) > MaxModelNameBytes:
		return fmt.Sprintf("the model name is longer than %d bytes", MaxModelNameBytes)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "the model name contains control characters"
	case strings.ContainsRune(name, utf8.RuneError):
		// Invalid UTF-8, or an escaped lone surrogate that decoders
		// disagree on: the upstream might read another name.
		return "the model name contains an invalid character (U+FFFD, invalid UTF-8 or a lone surrogate)"
	}
	return ""
}

// ModelScopes returns the scopes model requires under p besides the
// route's, and whether it may be used at all. ok is false when no rule
// matches and the default is deny, and when a scope template cannot turn
// the name into a valid scope.
func (p *ModelPolicy) ModelScopes(model string) (scopes []string, ok bool) {
	if p == nil || !p.hasDecision || CheckModelName(model) != "" {
		return nil, false
	}
	if p.template != "" {
		s := strings.ReplaceAll(p.template, "{model}", model)
		if checkScope(s) != "" {
			return nil, false
		}
		return []string{s}, true
	}
	if s, found := p.exact[model]; found {
		return s, true
	}
	for _, g := range p.globs {
		if globMatch(g.Model, model) {
			return g.Scopes, true
		}
	}
	if p.defAllow {
		return p.defScopes, true
	}
	return nil, false
}

// DecideModel reports whether granted scopes let a request for model
// through r: r's own scopes and those the model requires, all of them. A
// route without a models block decides on its own scopes alone.
func (r *Route) DecideModel(model string, granted []string) ModelDecision {
	base := r.Decide(granted)
	if r.Models == nil {
		return ModelDecision{Allowed: base.Allowed, Listed: true, Missing: base.Missing}
	}
	req, ok := r.Models.ModelScopes(model)
	if !ok {
		return ModelDecision{}
	}
	missing := base.Missing
	for _, s := range req {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	return ModelDecision{Allowed: len(missing) == 0, Listed: true, Required: req, Missing: missing}
}

// ListAllows reports whether a list route r shows model to a token with
// the granted scopes: the token may use it on one of the RulesFrom routes,
// or, without them, under r's own rules (r's own scopes the token already
// has, having reached the list).
func (r *Route) ListAllows(model string, granted []string) bool {
	p := r.Models
	if p == nil || !p.List {
		return true
	}
	if len(p.RulesFrom) == 0 {
		return r.DecideModel(model, granted).Allowed
	}
	for _, src := range p.RulesFrom {
		if src.DecideModel(model, granted).Allowed {
			return true
		}
	}
	return false
}

// globMatch matches name against pattern, where each '*' matches any run
// of bytes ('/' included) and every other byte matches itself.
func globMatch(pattern, name string) bool {
	first, rest, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == name
	}
	if !strings.HasPrefix(name, first) {
		return false
	}
	name = name[len(first):]
	parts := strings.Split(rest, "*")
	last := parts[len(parts)-1]
	for _, part := range parts[:len(parts)-1] {
		i := strings.Index(name, part)
		if i < 0 {
			return false
		}
		name = name[i+len(part):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}
