package config

import (
	"fmt"
	"slices"
	"strings"
)

// SharedSignalsConfig is the receiver of OpenID Shared Signals events
// (CAEP session-revoked and credential-change, RISC account and
// credential events): Security Event Tokens (RFC 8417) pushed over HTTP
// (RFC 8935) to POST /v1/ssf/events on the admin listener, each turned into
// a subject "not before" revocation (docs/revocation.md).
type SharedSignalsConfig struct {
	// Audience is this receiver's identifier as the transmitter knows it
	// (the stream's aud): every SET's aud must contain it. Setting it turns
	// the receiver on. Default "": off (404).
	Audience string `yaml:"audience"`
	// Issuers whose events are accepted, among the configured issuers.
	// Default: every configured issuer.
	Issuers []string `yaml:"issuers"`
	// Authorization, when set, is the exact Authorization header value the
	// transmitter sends with every push (the SSF stream's
	// authorization_header), usually from ${ENV}; compared in constant
	// time. Default "": the SET's signature alone authenticates a push.
	Authorization string `yaml:"authorization"`
}

// validateSignals checks the shared_signals block.
func (c *Config) validateSignals(v *validator) {
	s := c.SharedSignals
	if s.Audience == "" {
		if len(s.Issuers) > 0 || s.Authorization != "" {
			v.add("shared_signals.audience", "is required to receive events: the aud your transmitter puts in its SETs")
		}
		return
	}
	if strings.TrimSpace(s.Audience) != s.Audience {
		v.add("shared_signals.audience", "must not begin or end with spaces")
	}
	known := make([]string, 0, len(c.Issuers))
	for _, is := range c.Issuers {
		known = append(known, is.Issuer)
	}
	if len(known) == 0 {
		v.add("shared_signals", "events are verified with an issuer's keys: configure the issuer under issuers")
	}
	for i, iss := range s.Issuers {
		if !slices.Contains(known, iss) {
			v.add(fmt.Sprintf("shared_signals.issuers[%d]", i), "%q is not a configured issuer", iss)
		}
	}
	if a := s.Authorization; a != "" && len(a) < 16 {
		v.add("shared_signals.authorization", "must be at least 16 characters: it is a shared secret")
	}
}
