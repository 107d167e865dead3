package mockapi

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

func serve(t *testing.T, opts Options) (*API, *httptest.Server) {
	t.Helper()
	a := New(opts)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

// do sends a request and returns the status, headers and body.
func do(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// decodeOK checks a 200 JSON answer and decodes it.
func decodeOK(t *testing.T, code int, h http.Header, body []byte, into any) {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("status %d; want 200 (body %s)", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
}

func TestModels(t *testing.T) {
	_, srv := serve(t, Options{})
	var list struct {
		Object string
		Data   []struct {
			ID, Object string
			OwnedBy    string `json:"owned_by"`
			Created    int64
		}
	}
	code, h, body := do(t, "GET", srv.URL+"/v1/models", "")
	decodeOK(t, code, h, body, &list)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.Created == 0 || m.OwnedBy != "mock" {
			t.Errorf("model %+v; want object model and a created time", m)
		}
	}
	if list.Object != "list" || !slices.Equal(ids, DefaultModels) {
		t.Errorf("object %q, ids %q; want list, %q", list.Object, ids, DefaultModels)
	}

	_, srv2 := serve(t, Options{Models: []string{"m1"}})
	code, _, body = do(t, "GET", srv2.URL+"/v1/models/m1", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"id":"m1"`) {
		t.Errorf("GET /v1/models/m1: %d %s; want 200 with id m1", code, body)
	}
	code, _, body = do(t, "GET", srv2.URL+"/v1/models/gpt-4o", "")
	wantError(t, code, body, http.StatusNotFound)
	code, h, body = do(t, "POST", srv2.URL+"/v1/models", "{}")
	wantError(t, code, body, http.StatusMethodNotAllowed)
	if h.Get("Allow") != "GET" {
		t.Errorf("Allow %q; want GET", h.Get("Allow"))
	}
}

// wantError checks an OpenAI-shaped error answer.
func wantError(t *testing.T, code int, body []byte, want int) {
	t.Helper()
	if code != want {
		t.Errorf("status %d; want %d (body %s)", code, want, body)
	}
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	code2, hasCode := e.Error["code"]
	if msg, _ := e.Error["message"].(string); msg == "" || e.Error["type"] != "invalid_request_error" || !hasCode || code2 != nil {
		t.Errorf("error %v; want message, type invalid_request_error, code null", e.Error)
	}
}

type completion struct {
	ID, Object, Model string
	Created           int64
	Choices           []struct {
		Index   int
		Message struct {
			Role    string
			Content string
		}
		FinishReason *string `json:"finish_reason"`
	}
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
}

func TestChatCompletion(t *testing.T) {
	_, srv := serve(t, Options{})
	url := srv.URL + "/v1/chat/completions"
	long := strings.Repeat("é", 100)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"string content", `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi there"}]}`,
			"Hello from gpt-4o: you said hi there"},
		{"parts content", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}]}`,
			"Hello from gpt-4o-mini: you said a b"},
		{"truncated", `{"model":"gpt-4o","messages":[{"role":"user","content":"` + long + `"}]}`,
			"Hello from gpt-4o: you said " + long[:2*maxEcho] + "…"},
		{"no user message", `{"model":"gpt-4o","messages":[{"role":"system","content":"x"}]}`,
			"Hello from gpt-4o: you said nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c completion
			code, h, body := do(t, "POST", url, tc.body)
			decodeOK(t, code, h, body, &c)
			if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Created == 0 || len(c.Choices) != 1 {
				t.Fatalf("completion %s; want id chatcmpl-*, object chat.completion, one choice", body)
			}
			ch := c.Choices[0]
			if ch.Message.Role != "assistant" || ch.Message.Content != tc.want {
				t.Errorf("message %+v; want assistant %q", ch.Message, tc.want)
			}
			if ch.FinishReason == nil || *ch.FinishReason != "stop" {
				t.Errorf("finish_reason %v; want stop", ch.FinishReason)
			}
			if u := c.Usage; u.TotalTokens != u.PromptTokens+u.CompletionTokens || u.CompletionTokens == 0 {
				t.Errorf("usage %+v; want consistent token counts", u)
			}
		})
	}
}

func TestModelEndpointErrors(t *testing.T) {
	_, srv := serve(t, Options{})
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"chat bad JSON", "/v1/chat/completions", `{"model":`, 400},
		{"chat wrong type", "/v1/chat/completions", `{"model":1}`, 400},
		{"chat unknown model", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, 404},
		{"chat no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400},
		{"chat no messages", "/v1/chat/completions", `{"model":"gpt-4o"}`, 400},
		{"images bad JSON", "/v1/images/generations", `nope`, 400},
		{"images unknown model", "/v1/images/generations", `{"model":"dall-e-9","prompt":"x"}`, 404},
		{"images no prompt", "/v1/images/generations", `{"model":"dall-e-3"}`, 400},
		{"images bad n", "/v1/images/generations", `{"prompt":"x","n":0}`, 400},
		{"images bad format", "/v1/images/generations", `{"prompt":"x","response_format":"gif"}`, 400},
		{"embeddings bad JSON", "/v1/embeddings", `[`, 400},
		{"embeddings unknown model", "/v1/embeddings", `{"model":"nope","input":"x"}`, 404},
		{"embeddings no input", "/v1/embeddings", `{"model":"text-embedding-3-small"}`, 400},
		{"embeddings bad input", "/v1/embeddings", `{"model":"text-embedding-3-small","input":{"a":1}}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, "POST", srv.URL+tc.path, tc.body)
			wantError(t, code, body, tc.want)
		})
	}
	code, _, body := do(t, "GET", srv.URL+"/v1/chat/completions", "")
	wantError(t, code, body, http.StatusMethodNotAllowed)
}

type chunk struct {
	ID, Object, Model string
	Created           int64
	Choices           []struct {
		Index int
		Delta struct {
			Role    string
			Content *string
		}
		FinishReason *string `json:"finish_reason"`
	}
	Usage *struct {
		TotalTokens int `json:"total_tokens"`
	}
}

// TestChatStream: a streamed completion is sent event by event, each
// flushed StreamDelay after the previous one (the first at once, [DONE]
// right after the last). Over an in-memory connection in a synctest
// bubble, the arrival times are exact.
func TestChatStream(t *testing.T) {
	synctest.Test(t, testChatStream)
}

func testChatStream(t *testing.T) {
	const delay = 100 * time.Millisecond
	client := testkit.PipeClient(t, New(Options{StreamDelay: delay}).Handler())
	body := `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stream me"}]}`
	start := time.Now()
	resp, err := client.Post("http://mock.test/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q; want 200 text/event-stream", resp.StatusCode, ct)
	}

	br := bufio.NewReader(resp.Body)
	var (
		events  []string
		arrived []time.Duration
	)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q; want a data: line", line)
		}
		events = append(events, data)
		arrived = append(arrived, time.Since(start))
	}
	if len(events) < 5 {
		t.Fatalf("got %d events; want several", len(events))
	}
	if events[len(events)-1] != "[DONE]" {
		t.Errorf("last event %q; want [DONE]", events[len(events)-1])
	}
	// The events were flushed one by one, a delay apart.
	for n, d := range arrived {
		if want := time.Duration(min(n, len(events)-2)) * delay; d != want {
			t.Errorf("event %d arrived after %v; want %v", n, d, want)
		}
	}

	var text strings.Builder
	var finished, usage bool
	for n, data := range events[:len(events)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %d %q: %v", n, data, err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != "gpt-4o" || !strings.HasPrefix(c.ID, "chatcmpl-") {
			t.Errorf("event %d %s; want a gpt-4o chat.completion.chunk", n, data)
		}
		if n == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first event %s; want the assistant role", data)
		}
		if c.Usage != nil {
			usage = len(c.Choices) == 0 && c.Usage.TotalTokens > 0
			continue
		}
		if finished {
			t.Errorf("event %d after finish_reason: %s", n, data)
		}
		if fr := c.Choices[0].FinishReason; fr != nil {
			finished = *fr == "stop"
		}
		if d := c.Choices[0].Delta.Content; d != nil {
			text.WriteString(*d)
		}
	}
	if !finished || !usage {
		t.Errorf("finish_reason stop seen %v, usage chunk seen %v; want both", finished, usage)
	}
	if want := "Hello from gpt-4o: you said stream me"; text.String() != want {
		t.Errorf("streamed text %q; want %q", text.String(), want)
	}
}

// TestChatStreamPaced: with StreamPace, the first event comes at once and
// each later one, [DONE] included, only after a receive from the pace:
// in a synctest bubble, nothing more arrives while everything waits, and
// no time passes.
func TestChatStreamPaced(t *testing.T) {
	synctest.Test(t, testChatStreamPaced)
}

func testChatStreamPaced(t *testing.T) {
	pace := make(chan struct{})
	client := testkit.PipeClient(t, New(Options{StreamPace: pace, StreamDelay: time.Hour}).Handler())
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"pace me"}]}`
	start := time.Now()
	resp, err := client.Post("http://mock.test/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string)
	go func() {
		defer close(events)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				events <- data
			}
			if err != nil {
				return
			}
		}
	}()
	var got []string
	for data := range events {
		got = append(got, data)
		if data == "[DONE]" {
			continue // the stream ends; anything after it fails the check below
		}
		synctest.Wait() // the stream, the client and the reader all wait
		select {
		case next, ok := <-events:
			if ok {
				t.Fatalf("event %q arrived after %q without a receive from the pace", next, data)
			}
			t.Fatalf("the stream ended after %q without [DONE]", data)
		default:
		}
		pace <- struct{}{}
	}
	if len(got) < 4 || got[len(got)-1] != "[DONE]" {
		t.Fatalf("events %q; want several, then [DONE]", got)
	}
	if d := time.Since(start); d != 0 {
		t.Errorf("the paced stream took %v of the bubble's clock; want no pause but the pace (StreamDelay ignored)", d)
	}
}

func TestChatStreamWithoutUsage(t *testing.T) {
	_, srv := serve(t, Options{StreamDelay: -1})
	code, _, body := do(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if code != 200 || strings.Contains(string(body), `"usage"`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("status %d body %s; want 200, no usage, ending in [DONE]", code, body)
	}
}

func TestImages(t *testing.T) {
	_, srv := serve(t, Options{})
	url := srv.URL + "/v1/images/generations"
	type images struct {
		Created int64
		Data    []struct {
			B64JSON       string `json:"b64_json"`
			URL           string
			RevisedPrompt string `json:"revised_prompt"`
		}
	}
	checkPNG := func(b64 string) {
		t.Helper()
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("decoding PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
			t.Errorf("image %v; want 1x1", b)
		}
	}

	var got images
	code, h, body := do(t, "POST", url, `{"model":"dall-e-3","prompt":"a cat"}`)
	decodeOK(t, code, h, body, &got)
	if got.Created == 0 || len(got.Data) != 1 || got.Data[0].URL != "" || !strings.Contains(got.Data[0].RevisedPrompt, "a cat") {
		t.Fatalf("images %s; want one b64_json image with a revised prompt", body)
	}
	checkPNG(got.Data[0].B64JSON)

	got = images{}
	code, h, body = do(t, "POST", url, `{"prompt":"a dog","n":2,"response_format":"url"}`)
	decodeOK(t, code, h, body, &got)
	if len(got.Data) != 2 || got.Data[0].B64JSON != "" {
		t.Fatalf("images %s; want two url images", body)
	}
	b64, ok := strings.CutPrefix(got.Data[1].URL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("url %q; want a PNG data: URL", got.Data[1].URL)
	}
	checkPNG(b64)
}

func TestEmbeddings(t *testing.T) {
	_, srv := serve(t, Options{})
	url := srv.URL + "/v1/embeddings"
	type embeddings struct {
		Object, Model string
		Data          []struct {
			Object    string
			Index     int
			Embedding json.RawMessage
		}
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		}
	}
	get := func(body string) embeddings {
		t.Helper()
		var e embeddings
		code, h, b := do(t, "POST", url, body)
		decodeOK(t, code, h, b, &e)
		if e.Object != "list" || e.Model != "text-embedding-3-small" || e.Usage.TotalTokens == 0 {
			t.Errorf("embeddings %s; want a list, the model and usage", b)
		}
		for n, d := range e.Data {
			if d.Object != "embedding" || d.Index != n {
				t.Errorf("data[%d] object %q index %d", n, d.Object, d.Index)
			}
		}
		return e
	}
	floats := func(raw json.RawMessage) []float32 {
		t.Helper()
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		if len(v) != 8 {
			t.Errorf("embedding has %d values; want 8", len(v))
		}
		return v
	}

	one := get(`{"model":"text-embedding-3-small","input":"hello"}`)
	if len(one.Data) != 1 {
		t.Fatalf("%d embeddings; want 1", len(one.Data))
	}
	v := floats(one.Data[0].Embedding)
	again := get(`{"model":"text-embedding-3-small","input":["hello","world"]}`)
	if len(again.Data) != 2 || !slices.Equal(floats(again.Data[0].Embedding), v) || slices.Equal(floats(again.Data[1].Embedding), v) {
		t.Errorf("embeddings not deterministic per input")
	}
	if n := len(get(`{"model":"text-embedding-3-small","input":[[1,2],[3]]}`).Data); n != 2 {
		t.Errorf("token arrays: %d embeddings; want 2", n)
	}
	if n := len(get(`{"model":"text-embedding-3-small","input":[1,2,3]}`).Data); n != 1 {
		t.Errorf("token array: %d embeddings; want 1", n)
	}

	b := get(`{"model":"text-embedding-3-small","input":"hello","encoding_format":"base64"}`)
	var s string
	if err := json.Unmarshal(b.Data[0].Embedding, &s); err != nil {
		t.Fatalf("base64 embedding %s: %v", b.Data[0].Embedding, err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 {
		t.Fatalf("base64 embedding decodes to %d bytes (%v); want 32", len(raw), err)
	}
	for n := range 8 {
		if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*n:])); f != v[n] {
			t.Errorf("base64 value %d = %v; want %v", n, f, v[n])
		}
	}
}

type echoed struct {
	Object, Method, Path, Proto, Host string
	RawPath                           string `json:"raw_path"`
	RawQuery                          string `json:"raw_query"`
	Headers                           http.Header
	ContentLength                     int64  `json:"content_length"`
	BodyLength                        int64  `json:"body_length"`
	BodySHA256                        string `json:"body_sha256"`
}

func TestEchoAndRecording(t *testing.T) {
	a, srv := serve(t, Options{})
	big := make([]byte, 8<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(big)

	req, _ := http.NewRequest("PUT", srv.URL+"/v1/files/a%2Fb/../c?x=1&y=%20", bytes.NewReader(big))
	req.Header.Set("X-Test", "one")
	req.Header.Add("X-Test", "two")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e echoed
	decodeOK(t, resp.StatusCode, resp.Header, body, &e)
	want := echoed{
		Object: "echo", Method: "PUT", Path: "/v1/files/a/b/../c", RawPath: "/v1/files/a%2Fb/../c",
		RawQuery: "x=1&y=%20", Proto: "HTTP/1.1", Host: strings.TrimPrefix(srv.URL, "http://"),
		ContentLength: int64(len(big)), BodyLength: int64(len(big)), BodySHA256: hex.EncodeToString(sum[:]),
	}
	got := e
	got.Headers = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("echo\n got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(e.Headers["X-Test"], []string{"one", "two"}) {
		t.Errorf("X-Test %q; want [one two]", e.Headers["X-Test"])
	}

	do(t, "POST", srv.URL+"/v1/echo", "hello")
	do(t, "GET", srv.URL+"/v1/models", "")
	recs := a.Requests()
	if len(recs) != 3 {
		t.Fatalf("%d requests recorded; want 3", len(recs))
	}
	r0 := recs[0]
	if r0.Method != "PUT" || r0.RawPath != want.RawPath || r0.Path != want.Path || r0.RawQuery != want.RawQuery ||
		r0.BodyLen != int64(len(big)) || r0.BodySHA256 != want.BodySHA256 || r0.Proto != "HTTP/1.1" || r0.Header.Get("X-Test") != "one" {
		t.Errorf("record %+v; want the PUT as sent", r0)
	}
	helloSum := sha256.Sum256([]byte("hello"))
	if r1 := recs[1]; r1.Path != "/v1/echo" || r1.BodyLen != 5 || r1.BodySHA256 != hex.EncodeToString(helloSum[:]) {
		t.Errorf("record %+v; want POST /v1/echo with 5 bytes", r1)
	}
	if recs[2].Path != "/v1/models" || recs[2].BodyLen != 0 {
		t.Errorf("record %+v; want GET /v1/models", recs[2])
	}

	// Requests returns copies.
	recs[0].Header.Set("X-Test", "changed")
	if a.Requests()[0].Header.Get("X-Test") != "one" {
		t.Errorf("modifying a returned record changed the API's record")
	}
	a.Reset()
	if n := len(a.Requests()); n != 0 {
		t.Errorf("%d requests after Reset; want 0", n)
	}
}

func TestLargeJSONBody(t *testing.T) {
	a, srv := serve(t, Options{})
	msg := strings.Repeat("x", 8<<20)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + msg + `"}]}`
	var c completion
	code, h, b := do(t, "POST", srv.URL+"/v1/chat/completions", body)
	decodeOK(t, code, h, b, &c)
	if want := "Hello from gpt-4o: you said " + msg[:maxEcho] + "…"; c.Choices[0].Message.Content != want {
		t.Errorf("reply %q; want %q", c.Choices[0].Message.Content, want)
	}
	if r := a.Requests(); r[0].BodyLen != int64(len(body)) {
		t.Errorf("recorded %d bytes; want %d", r[0].BodyLen, len(body))
	}
}

func TestTooLargeJSONBody(t *testing.T) {
	a := New(Options{})
	rec := httptest.NewRecorder()
	body := io.LimitReader(zeros{}, MaxJSONBody+1)
	a.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/embeddings", body))
	wantError(t, rec.Code, rec.Body.Bytes(), http.StatusRequestEntityTooLarge)
	if r := a.Requests(); r[0].BodyLen != MaxJSONBody+1 {
		t.Errorf("recorded %d bytes; want the whole body, %d", r[0].BodyLen, MaxJSONBody+1)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestConcurrentRequests(t *testing.T) {
	a, srv := serve(t, Options{StreamDelay: time.Millisecond})
	var wg sync.WaitGroup
	for n := range 10 {
		wg.Go(func() {
			switch n % 3 {
			case 0:
				do(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`)
			case 1:
				do(t, "POST", srv.URL+"/v1/echo", "body")
			default:
				a.Requests()
			}
		})
	}
	wg.Wait()
	if n := len(a.Requests()); n != 7 {
		t.Errorf("%d requests recorded; want 7", n)
	}
}
