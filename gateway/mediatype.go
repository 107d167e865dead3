package gateway

import (
	"mime"
	"strings"
)

// What the upstream parses must be what the gateway judged. A body the
// gateway reads as UTF-8 JSON (to find its model, and, later, an MCP
// JSON-RPC message) may be parsed by the upstream's framework as something
// else when its Content-Type says so: a charset other than UTF-8 that a
// JSON body parser honours, or a form media type that a framework decodes
// as a form, where "model" can appear again. So a judged body must say it
// is JSON, in UTF-8.

// checkJSONMediaType returns "" when the Content-Type header values vals
// name a JSON body in UTF-8: exactly one value, application/json or
// application/<anything>+json (case-insensitive), with at most a charset
// parameter equal to utf-8 (case-insensitive, quoted or not). Otherwise
// it returns a message for the client. It is used on requests (415) and on
// the upstream's model lists (fail closed).
func checkJSONMediaType(vals []string) string {
	switch len(vals) {
	case 0:
		return "a JSON body needs Content-Type: application/json"
	case 1:
	default:
		return "the request has more than one Content-Type header"
	}
	v := vals[0]
	if strings.EqualFold(v, "application/json") { // the common case, without allocating
		return ""
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "the Content-Type header is malformed (" + err.Error() + ")"
	}
	if !isJSONMediaType(mt) {
		return "the media type " + mt + " is not accepted here: send the body as application/json"
	}
	for k, p := range params {
		if k != "charset" {
			return "the Content-Type parameter " + k + " is not accepted here: send application/json, optionally with charset=utf-8"
		}
		if !strings.EqualFold(p, "utf-8") {
			return "the charset " + p + " is not accepted here: send the JSON body in UTF-8"
		}
	}
	return ""
}

// isJSONMediaType reports whether mt (lower-case, as mime.ParseMediaType
// returns it) is application/json or an application/*+json type.
func isJSONMediaType(mt string) bool {
	if mt == "application/json" {
		return true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && strings.HasSuffix(sub, "+json") && len(sub) > len("+json")
}
