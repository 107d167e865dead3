package gateway

import (
	"net/http"
	"strconv"
	"strings"
)

// refusal is a request the gateway refuses: why (a reason of
// reasonRegistry) and the answer to send. The checks of the request path
// return one (nil: the request goes on); the handler answers it, or, on a
// shadow route, forwards the request recorded as would_deny.
type refusal struct {
	reason Reason
	err    apiError
}

// refuse makes the refusal of reason, answered with e.
func refuse(reason Reason, e apiError) *refusal { return &refusal{reason: reason, err: e} }

// apiError is a response the gateway makes itself: a status, an optional
// RFC 6750 challenge, and the OpenAI-compatible JSON body
// {"error":{"message":...,"type":...,"code":...}}.
type apiError struct {
	status  int
	typ     string // OpenAI error type
	code    string // OpenAI error code; also the RFC 6750 error, when challenge is set
	message string
	// challenge adds WWW-Authenticate: Bearer error=code,
	// error_description=message, realm=...; bare adds it without error
	// attributes.
	challenge, bare bool
	scope           string // for insufficient_scope
	retryAfter      int    // seconds; for 503
	// resourceMetadata, on a 401, adds the RFC 9728 resource_metadata
	// parameter naming the protected resource metadata URL.
	resourceMetadata string
	// auditDetail, if set, is written in the audit record instead of
	// message (e.g. a CEL error the client need not see).
	auditDetail string
	// dpop, on a 401, adds the DPoP challenge (gateway/sender.go).
	dpop *dpopChallenge
	// rpcBody, on an MCP route, replaces the OpenAI-shaped body with a
	// JSON-RPC error (gateway/mcproute.go); its 403 also names the
	// resource metadata, so that a client can step up.
	rpcBody []byte
}

// auditText is what the audit record says of the refusal.
func (e apiError) auditText() string {
	if e.auditDetail != "" {
		return e.auditDetail
	}
	return e.message
}

// challengeError is the RFC 6750 error attribute of e's challenge, or "".
// Every 403 is one: RFC 6750 section 3 asks a challenge of every request
// whose token does not enable access, and insufficient_scope is its only
// error for a valid token the resource refuses, whichever rule refused it
// (model, principal, delegation, client, condition); the JSON body's code
// keeps the precise rule.
func (e apiError) challengeError() string {
	switch {
	case e.challenge:
		return e.code
	case e.status == http.StatusForbidden:
		return "insufficient_scope"
	}
	return ""
}

func writeError(w http.ResponseWriter, realm string, e apiError) {
	h := w.Header()
	if chErr := e.challengeError(); chErr != "" || e.bare || e.status == http.StatusUnauthorized {
		var b strings.Builder
		b.WriteString("Bearer ")
		if chErr != "" {
			// The order CONTRACT.md prints (error="insufficient_scope",
			// scope="..."), so that a client matching the documented
			// prefix finds it; RFC 6750 gives no order, and puts realm
			// anywhere.
			b.WriteString(`error="`)
			b.WriteString(chErr)
			b.WriteByte('"')
			if e.scope != "" {
				b.WriteString(`, scope="`)
				b.WriteString(challengeText(e.scope))
				b.WriteByte('"')
			}
			b.WriteString(`, error_description="`)
			b.WriteString(challengeText(e.message))
			b.WriteString(`", `)
		}
		b.WriteString(`realm="`)
		b.WriteString(realm)
		b.WriteByte('"')
		if e.resourceMetadata != "" && (e.status == http.StatusUnauthorized || e.rpcBody != nil) {
			b.WriteString(`, resource_metadata="`)
			b.WriteString(challengeText(e.resourceMetadata))
			b.WriteByte('"')
		}
		h.Set("WWW-Authenticate", b.String())
		if e.dpop != nil {
			e.dpop.write(h, e)
		}
	}
	if e.status == http.StatusRequestEntityTooLarge {
		// The rest of the body is not read: the connection cannot be reused.
		h.Set("Connection", "close")
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	if e.rpcBody != nil {
		_, _ = w.Write(e.rpcBody)
		return
	}
	var b strings.Builder
	b.WriteString(`{"error":{"message":`)
	b.WriteString(strconv.Quote(e.message))
	b.WriteString(`,"type":`)
	b.WriteString(strconv.Quote(e.typ))
	b.WriteString(`,"code":`)
	b.WriteString(strconv.Quote(e.code))
	b.WriteString("}}\n")
	_, _ = w.Write([]byte(b.String()))
}

// challengeText keeps only the characters RFC 6750 allows inside
// error_description and scope (%x20-21 / %x23-5B / %x5D-7E).
func challengeText(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			out = append(out, c)
		} else if c == '"' {
			out = append(out, '\'')
		}
	}
	return string(out)
}

func errNoCredentials() apiError {
	return apiError{status: http.StatusUnauthorized, typ: "authentication_error", code: "missing_token",
		message: "this route requires a bearer access token in the Authorization header", bare: true}
}

func errInvalidRequest(msg string) apiError {
	return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request", message: msg, challenge: true}
}

func errInvalidToken(msg string) apiError {
	return apiError{status: http.StatusUnauthorized, typ: "authentication_error", code: "invalid_token", message: msg, challenge: true}
}

func errInsufficientScope(required []string, missing []string) apiError {
	return apiError{status: http.StatusForbidden, typ: "permission_error", code: "insufficient_scope",
		message:   "the access token lacks the scope(s) this route requires: " + strings.Join(missing, " "),
		challenge: true, scope: strings.Join(required, " ")}
}

func errKeysUnavailable() apiError {
	return apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable", code: "keys_unavailable",
		message: "the token issuer's signing keys are not available yet; retry shortly", retryAfter: 5}
}

func errNoRoute() apiError {
	return apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "route_not_found",
		message: "no route matches this method and path"}
}

// errMethodNotAllowed is a 405; the handler sets Allow.
func errMethodNotAllowed(method string) apiError {
	return apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
		message: "method " + method + " is not allowed on this path"}
}

func errBodyTooLarge(limit int64) apiError {
	return apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "body_too_large",
		message: "the request body is larger than the " + strconv.FormatInt(limit, 10) + " bytes this route accepts"}
}

func errHeadersTooLarge(limit int) apiError {
	return apiError{status: http.StatusRequestHeaderFieldsTooLarge, typ: "invalid_request_error", code: "headers_too_large",
		message: "the request line and headers are larger than the " + strconv.Itoa(limit) + " bytes the gateway accepts"}
}

func errUpstream(status int, msg string) apiError {
	code := "upstream_error"
	if status == http.StatusGatewayTimeout {
		code = "upstream_timeout"
	}
	return apiError{status: status, typ: "api_error", code: code, message: msg}
}

func errInternal() apiError {
	return apiError{status: http.StatusInternalServerError, typ: "api_error", code: "internal_error",
		message: "the gateway failed to handle this request"}
}

// errForbidden is a 403 for a rule other than scopes (principal kind,
// client, delegation depth, condition, model). Its challenge says
// insufficient_scope (see challengeError); set scope where a scope would
// help.
func errForbidden(code, msg string) apiError {
	return apiError{status: http.StatusForbidden, typ: "permission_error", code: code, message: msg}
}

func errModelNotAllowed(model string) apiError {
	return apiError{status: http.StatusForbidden, typ: "permission_error", code: "model_not_allowed",
		message: "the model " + strconv.Quote(model) + " may not be used on this route"}
}

// errBadBody is a 400 about the request body: no Bearer challenge, since
// the token is not at fault.
func errBadBody(msg string) apiError {
	return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request", message: msg}
}

func errBodyTimeout() apiError {
	return apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "body_timeout",
		message: "the request body stopped arriving before it was complete"}
}

func errUnsupportedMediaType(msg string) apiError {
	return apiError{status: http.StatusUnsupportedMediaType, typ: "invalid_request_error", code: "unsupported_media_type", message: msg}
}

func errUnsupportedEncoding() apiError {
	return apiError{status: http.StatusUnsupportedMediaType, typ: "invalid_request_error", code: "unsupported_content_encoding",
		message: "this route reads the model from the request body, which must not be sent with a Content-Encoding"}
}
