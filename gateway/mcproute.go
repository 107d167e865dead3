package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/scopegate/scopegate/internal/header"
	"github.com/scopegate/scopegate/internal/jsonwalk"
	"github.com/scopegate/scopegate/mcp"
	"github.com/scopegate/scopegate/policy"
	"github.com/scopegate/scopegate/policy/conditions"
)

// Audit reasons of MCP routes.
const (
	ReasonMCPBadMessage     Reason = "mcp_bad_message"
	ReasonMCPHeaderMismatch Reason = "mcp_header_mismatch"
	ReasonMCPNotAllowed     Reason = "mcp_not_allowed"
	ReasonMCPListing        Reason = "mcp_listing_unfilterable"
	ReasonMCPOrigin         Reason = "mcp_origin_not_allowed"
)

// mcpState is what one request on an MCP route carries from the decision
// to the audit record and the response filter.
type mcpState struct {
	table  *mcp.Table
	method string // of the (first) message; "" for GET and DELETE
	tool   string // tools/call and prompts/get name, or resources/read URI
	// listing is set when the response lists tools, prompts or resources:
	// it is filtered to what the token may use.
	listing string
	cond    *conditions.MCP // what the route's conditions see
}

// conditionInput is the mcp variable of the route's conditions.
func (ms *mcpState) conditionInput() *conditions.MCP {
	if ms == nil {
		return nil
	}
	return ms.cond
}

// decideMCP judges a request on an MCP route (Streamable HTTP): a POST is
// read strictly and every message in it decided; GET (the server's SSE
// stream, on which server requests such as sampling pass unchanged) and
// DELETE (end of session) pass with the route's scopes. Nothing is kept per
// session: each request is judged by its own token.
func decideMCP(rt *runtime, st *reqState, r *http.Request, route *policy.Route) *refusal {
	t := rt.cfg.MCP[route.Index]
	if t == nil {
		return nil
	}
	st.mcp = &mcpState{table: t}
	for k := range r.Header {
		if header.Norm(k) == "last-event-id" {
			// Resuming replays a stream's events as the server stored
			// them: a listing unfiltered, or the answers to calls made
			// under another token. A replay cannot be judged.
			return refuse(ReasonMCPBadMessage, mcpError(http.StatusBadRequest, mcp.CodeInvalidRequest,
				"resuming a stream (Last-Event-ID) is not accepted on this MCP endpoint: its replay could not be judged", nil, "invalid_request_error", "invalid_request"))
		}
	}
	if r.Method != http.MethodPost {
		// Only a POST's messages are judged: a body on a GET or DELETE
		// would reach a lenient server unjudged.
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			return refuse(ReasonMCPBadMessage, mcpError(http.StatusBadRequest, mcp.CodeInvalidRequest,
				"a "+r.Method+" on an MCP endpoint carries no body: send JSON-RPC messages with POST", nil, "invalid_request_error", "invalid_body"))
		}
		return nil
	}
	b, reason, e := readMCPBody(r, t.MaxBodyBytes())
	if e != nil {
		return refuse(reason, *e)
	}
	msgs, err := mcp.ParseBody(b, t.AllowBatches())
	var pe *mcp.ProtocolError
	if errors.As(err, &pe) {
		return refuse(ReasonMCPBadMessage, mcpError(http.StatusBadRequest, pe.Code, pe.Msg, pe.ID, "invalid_request_error", "invalid_body"))
	}
	st.mcp.method, st.mcp.tool = msgs[0].Method, msgs[0].Name+msgs[0].URI
	if pe := mcp.CheckHeaders(r.Header.Values("Mcp-Method"), r.Header.Values("Mcp-Name"), msgs); pe != nil {
		return refuse(ReasonMCPHeaderMismatch, mcpError(http.StatusBadRequest, pe.Code, pe.Msg, pe.ID, "invalid_request_error", "header_mismatch"))
	}
	has := func(s string) bool { return slices.Contains(st.claims.Scopes, s) }
	for _, m := range msgs {
		d := t.Decide(m, has)
		if d.Allow {
			continue
		}
		st.mcp.method, st.mcp.tool = m.Method, m.Name+m.URI
		e := mcpError(http.StatusForbidden, mcp.CodeInvalidRequest, "scopegate: "+d.Reason, m.ID, "permission_error", "insufficient_scope")
		e.challenge = true
		if d.Missing != "" {
			e.scope = strings.Join(append(slices.Clone(route.Scopes), d.Missing), " ")
			return refuse(ReasonInsufficientScope, e)
		}
		return refuse(ReasonMCPNotAllowed, e)
	}
	if b[jsonwalk.SkipSpace(b, 0)] == '[' { // a batch
		for _, m := range msgs {
			if mcp.IsListing(m.Method) {
				// The answer would be an array the listing filter does not
				// read: the whole list would pass unfiltered.
				return refuse(ReasonMCPBadMessage, mcpError(http.StatusBadRequest, mcp.CodeInvalidRequest,
					"a "+m.Method+" is not accepted in a batch: send it as a message of its own", m.ID, "invalid_request_error", "invalid_body"))
			}
		}
	}
	if len(msgs) > 1 && len(rt.cfg.Conditions[route.Index]) > 0 {
		// Conditions judge one message; a batch would show them only one.
		return refuse(ReasonMCPBadMessage, mcpError(http.StatusBadRequest, mcp.CodeInvalidRequest, "batches are not accepted on a route with conditions", nil, "invalid_request_error", "invalid_body"))
	}
	m0 := msgs[0]
	st.mcp.cond = &conditions.MCP{Method: m0.Method, Tool: m0.Name + m0.URI}
	// The arguments are decoded (encoding/json, into maps) only for a
	// route with conditions: the only reader.
	if m0.Method == "tools/call" && len(rt.cfg.Conditions[route.Index]) > 0 {
		if args, ok := m0.DecodeArguments(t.MaxArgumentBytes()); ok {
			st.mcp.cond.Arguments = args
		}
	}
	if len(msgs) == 1 && mcp.IsListing(msgs[0].Method) {
		st.mcp.listing = msgs[0].Method
	}
	return nil
}

// checkMCPOrigin refuses a request to an MCP route whose Origin header
// the route does not allow (MCP Streamable HTTP transport, security
// warning: a present and invalid Origin is answered 403), before any
// other check, so that a page reaching the endpoint by DNS rebinding
// learns nothing, not even the resource metadata of a 401.
func checkMCPOrigin(rt *runtime, route *policy.Route, r *http.Request) *refusal {
	t := rt.cfg.MCP[route.Index]
	if t == nil || t.OriginAllowed(r.Header.Values("Origin")) {
		return nil
	}
	return refuse(ReasonMCPOrigin, mcpError(http.StatusForbidden, mcp.CodeInvalidRequest,
		"scopegate: requests from this Origin are not accepted on this MCP endpoint (mcp.allowed_origins)", nil, "permission_error", "origin_not_allowed"))
}

// mcpError is a refusal whose body is a JSON-RPC error response (echoing
// the request id, null when none could be read), which the MCP SDKs
// surface to the caller, instead of the OpenAI-shaped body.
func mcpError(status, code int, msg string, id json.RawMessage, typ, apiCode string) apiError {
	if id == nil {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
	return apiError{status: status, typ: typ, code: apiCode, message: msg, rpcBody: append(body, '\n')}
}

// readMCPBody reads a POSTed JSON-RPC body whole (at most limit bytes) and
// puts the same bytes back to forward. Its media-type, encoding and size
// rules are the model body's (bufferModelBody); the two can be folded into
// one reader once both have settled.
func readMCPBody(r *http.Request, limit int64) ([]byte, Reason, *apiError) {
	bad := func(reason Reason, e apiError) ([]byte, Reason, *apiError) { return nil, reason, &e }
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 1 || len(ce) == 1 && !strings.EqualFold(ce[0], "identity") {
		return bad(ReasonBadBody, errUnsupportedEncoding())
	}
	if r.ContentLength > limit {
		return bad(ReasonBodyTooLarge, errBodyTooLarge(limit))
	}
	if msg := checkJSONMediaType(r.Header.Values("Content-Type")); msg != "" {
		return bad(ReasonUnsupportedMediaType, errUnsupportedMediaType(msg))
	}
	if r.Body == nil || r.Body == http.NoBody {
		return bad(ReasonBadBody, errBadBody("an MCP POST needs a JSON-RPC body"))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	_ = r.Body.Close()
	switch {
	case err != nil:
		return bad(ReasonBadBody, errBadBody("the request body could not be read"))
	case int64(len(b)) > limit:
		return bad(ReasonBodyTooLarge, errBodyTooLarge(limit))
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	return b, "", nil
}

// maxMCPListingBytes caps a listing the gateway holds to filter it.
const maxMCPListingBytes = 16 << 20

// errMCPListing marks a listing that cannot be filtered: 502, never passed
// on unfiltered.
var errMCPListing = errors.New("MCP listing cannot be filtered")

// filterMCPListing is the proxies' ModifyResponse step for a listing:
// JSON or SSE, it keeps only what the token may use and marks the answer
// private to the caller.
func filterMCPListing(resp *http.Response) error {
	st := stateOf(resp.Request.Context())
	ms := st.mcp
	if ms == nil || ms.listing == "" || resp.StatusCode >= 400 {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", errMCPListing, resp.StatusCode)
	}
	ct := resp.Header.Values("Content-Type")
	sse := len(ct) == 1 && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct[0])), "text/event-stream")
	if !sse {
		if msg := checkJSONMediaType(ct); msg != "" {
			return fmt.Errorf("%w: %s", errMCPListing, msg)
		}
	}
	b, err := readListing(resp, maxMCPListingBytes, errMCPListing)
	if err != nil {
		return err
	}
	has := func(s string) bool { return slices.Contains(st.claims.Scopes, s) }
	allowed := func(kind, name string) bool { return ms.table.Allowed(kind, name, has) }
	var out []byte
	if sse {
		out, err = mcp.FilterSSE(b, ms.listing, allowed)
	} else {
		out, err = mcp.FilterListing(b, ms.listing, allowed)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errMCPListing, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Etag")
	resp.Header.Set("Cache-Control", "private, no-store") // filtered for this token
	resp.TransferEncoding = nil
	return nil
}
