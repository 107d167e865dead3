// Package mockapi is a small OpenAI-compatible model API for `scopegate
// demo` and for tests.
//
// It answers the endpoints the gateway's users call most (model list, chat
// completions with and without streaming, image generation, embeddings) in
// the shapes of the OpenAI API, so that the official SDKs parse them, and
// answers every other path by describing the request it received (/v1/echo).
// Every request is recorded (method, paths, headers, body length and
// SHA-256) so that tests can check what the gateway forwarded.
package mockapi

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultModels are the models served when Options.Models is empty.
var DefaultModels = []string{"gpt-4o", "gpt-4o-mini", "dall-e-3", "text-embedding-3-small"}

// MaxJSONBody is the largest request body parsed as JSON by the model
// endpoints; a larger one is answered 413. Other paths hash bodies of any
// size without holding them.
const MaxJSONBody = 64 << 20

// Options configures an API. The zero value is usable.
type Options struct {
	// Models are the model ids listed and accepted. Empty means
	// DefaultModels.
	Models []string
	// StreamDelay is the pause between server-sent events of a streamed
	// chat completion. Zero means 50ms; a negative value means no pause.
	StreamDelay time.Duration
	// StreamPace, when not nil, paces a streamed chat completion in place
	// of StreamDelay: before every event but the first ("data: [DONE]"
	// included) the stream waits to receive from it, or for the client to
	// go away. A client that sends only once it has read an event proves,
	// without timing, that nothing on the way held that event back: one
	// held back stalls the exchange.
	StreamPace <-chan struct{}
}

// API is a mock OpenAI-compatible model API. It is safe for concurrent use.
type API struct {
	models  []string
	delay   time.Duration
	pace    <-chan struct{}
	created int64 // the "created" time of every model

	mu       sync.Mutex
	requests []Recorded
}

// Recorded is what the API saw of one request.
type Recorded struct {
	// Method is the request method.
	Method string
	// Path is the decoded path, r.URL.Path.
	Path string
	// RawPath is the path as sent, r.URL.EscapedPath().
	RawPath string
	// RawQuery is the query string as sent, without '?'.
	RawQuery string
	// Header is a copy of the request headers (Host is in Host).
	Header http.Header
	// Host is the Host header (r.Host).
	Host string
	// ContentLength is r.ContentLength: -1 when the length was unknown
	// (chunked).
	ContentLength int64
	// BodyLen is the number of body bytes read.
	BodyLen int64
	// BodySHA256 is the hex SHA-256 of the body bytes read.
	BodySHA256 string
	// Proto is the protocol, e.g. "HTTP/1.1".
	Proto string
	// RemoteAddr is the peer's address, r.RemoteAddr.
	RemoteAddr string
}

// New returns an API configured by opts.
func New(opts Options) *API {
	models := slices.Clone(opts.Models)
	if len(models) == 0 {
		models = slices.Clone(DefaultModels)
	}
	delay := opts.StreamDelay
	if delay == 0 {
		delay = 50 * time.Millisecond
	}
	return &API{models: models, delay: max(delay, 0), pace: opts.StreamPace, created: 1_700_000_000}
}

// Handler returns the API's HTTP handler:
//
//	GET  /v1/models                model list
//	GET  /v1/models/{model}        one model
//	POST /v1/chat/completions      chat completion; "stream": true for SSE
//	POST /v1/images/generations    a 1x1 PNG, as b64_json or a data: URL
//	POST /v1/embeddings            8-dimensional embeddings
//	any  /v1/echo and other paths  200, a JSON description of the request
//
// The model endpoints answer other methods 405, a bad JSON body 400, an
// unknown model 404 and a body over MaxJSONBody 413, with an OpenAI error
// body. Paths are matched exactly as received, never cleaned or redirected.
func (a *API) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

// endpoint is a model endpoint: its method and its handler, which gets the
// request body (at most MaxJSONBody bytes).
type endpoint struct {
	method string
	serve  func(a *API, w http.ResponseWriter, r *http.Request, body []byte)
}

var endpoints = map[string]endpoint{
	"/v1/models":             {http.MethodGet, (*API).listModels},
	"/v1/chat/completions":   {http.MethodPost, (*API).chatCompletions},
	"/v1/images/generations": {http.MethodPost, (*API).imageGenerations},
	"/v1/embeddings":         {http.MethodPost, (*API).embeddings},
}

func (a *API) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ep, ok := endpoints[r.URL.Path]
	if id, found := strings.CutPrefix(r.URL.Path, "/v1/models/"); !ok && found && id != "" {
		ep, ok = endpoint{http.MethodGet, (*API).getModel}, true
	}
	var buf *capBuffer
	if ok {
		buf = &capBuffer{limit: MaxJSONBody}
	}
	rec, err := a.record(r, buf)
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	if !ok {
		echo(w, r, rec)
		return
	}
	if r.Method != ep.method && !(ep.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", ep.method)
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	if buf.over {
		writeError(w, http.StatusRequestEntityTooLarge, "request body larger than 64 MiB")
		return
	}
	ep.serve(a, w, r, buf.b)
}

// record reads the whole body, hashing it and, when buf is not nil, keeping
// up to buf.limit bytes of it, and appends the request to the record.
func (a *API) record(r *http.Request, buf *capBuffer) (Recorded, error) {
	h := sha256.New()
	var dst io.Writer = h
	if buf != nil {
		dst = io.MultiWriter(h, buf)
	}
	n, err := io.Copy(dst, r.Body)
	rec := Recorded{
		Method:        r.Method,
		Path:          r.URL.Path,
		RawPath:       r.URL.EscapedPath(),
		RawQuery:      r.URL.RawQuery,
		Header:        r.Header.Clone(),
		Host:          r.Host,
		ContentLength: r.ContentLength,
		BodyLen:       n,
		BodySHA256:    hex.EncodeToString(h.Sum(nil)),
		Proto:         r.Proto,
		RemoteAddr:    r.RemoteAddr,
	}
	a.mu.Lock()
	a.requests = append(a.requests, rec)
	a.mu.Unlock()
	return rec, err
}

// capBuffer keeps the first limit bytes written to it and notes whether
// more came; it never fails a write, so the body is still read and hashed
// to its end.
type capBuffer struct {
	limit int
	b     []byte
	over  bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	room := c.limit - len(c.b)
	if len(p) > room {
		c.over = true
		c.b = append(c.b, p[:room]...)
	} else {
		c.b = append(c.b, p...)
	}
	return len(p), nil
}

// Requests returns a copy of every request received since New or the last
// Reset, in the order their bodies were read to the end.
func (a *API) Requests() []Recorded {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.requests)
	for n := range out {
		out[n].Header = out[n].Header.Clone()
	}
	return out
}

// Reset forgets the recorded requests.
func (a *API) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = nil
}

// knownModel reports whether id is one of the API's models.
func (a *API) knownModel(id string) bool {
	return slices.Contains(a.models, id)
}
