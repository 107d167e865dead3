// Package header holds the header-name rules shared by the configuration
// (which refuses names the gateway manages) and the gateway (which strips
// client-sent copies of them): one list, so that the two cannot disagree.
package header

import "strings"

// Norm folds a header name so that spellings an upstream may treat as one
// header compare equal: case, and '_' for '-' (Go keeps X_Auth_Subject
// apart from X-Auth-Subject; many upstreams do not).
func Norm(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// Reserved are the headers (folded by Norm) managed by the gateway:
// client-sent copies in any spelling never reach the upstream, and config
// may not set them (except Authorization, for an upstream's own
// credential).
var Reserved = map[string]bool{
	"authorization":          true,
	"x-forwarded-for":        true,
	"x-forwarded-host":       true,
	"x-forwarded-proto":      true,
	"forwarded":              true,
	"x-real-ip":              true,
	"x-http-method-override": true,
	"x-http-method":          true,
	"x-method-override":      true,
	"x-request-id":           true,
	"connection":             true,
	"upgrade":                true,
	"host":                   true,
	"content-length":         true,
	"transfer-encoding":      true,
	"te":                     true,
	"trailer":                true,
	"keep-alive":             true,
	"proxy-connection":       true,
	"proxy-authorization":    true,
}

// IsToken reports whether s is an RFC 9110 token (a valid header name).
func IsToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return s != ""
}

// ValidValue reports whether s can be sent as a header value unchanged:
// no control characters (a CR/LF in a claim would otherwise make the
// transport fail with a 502, or worse).
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
