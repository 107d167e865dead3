package mockapi

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// maxEcho is how many runes of the user's message a reply repeats.
const maxEcho = 64

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	TotalTokens      int `json:"total_tokens"`
}

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	Usage             usage        `json:"usage"`
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *usage        `json:"usage,omitempty"`
}

func (a *API) chatCompletions(w http.ResponseWriter, r *http.Request, body []byte) {
	var req chatRequest
	if !decode(w, body, &req) || !a.checkModel(w, req.Model) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "messages must not be empty")
		return
	}
	said := "nothing"
	prompt := 0
	for _, m := range req.Messages {
		text := contentText(m.Content)
		prompt += len(strings.Fields(text))
		if m.Role == "user" {
			said = text
		}
	}
	reply := fmt.Sprintf("Hello from %s: you said %s", req.Model, truncate(said, maxEcho))
	u := usage{PromptTokens: max(prompt, 1), CompletionTokens: len(strings.Fields(reply))}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	id := "chatcmpl-" + rand.Text()
	created := time.Now().Unix()

	if !req.Stream {
		writeJSON(w, http.StatusOK, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			SystemFingerprint: "fp_mock",
			Choices: []chatChoice{{
				Message:      chatMessage{Role: "assistant", Content: reply},
				FinishReason: "stop",
			}},
			Usage: u,
		})
		return
	}

	chunk := func(d chunkDelta, finish *string) chatChunk {
		return chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: "fp_mock",
			Choices:           []chunkChoice{{Delta: d, FinishReason: finish}},
		}
	}
	empty, stop := "", "stop"
	events := []chatChunk{chunk(chunkDelta{Role: "assistant", Content: &empty}, nil)}
	for _, piece := range pieces(reply) {
		events = append(events, chunk(chunkDelta{Content: &piece}, nil))
	}
	events = append(events, chunk(chunkDelta{}, &stop))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		last := chunk(chunkDelta{}, nil)
		last.Choices, last.Usage = []chunkChoice{}, &u
		events = append(events, last)
	}
	a.stream(w, r, events)
}

// stream writes events as server-sent events, flushing each and pausing
// a.delay between them, then "data: [DONE]"; with a.pace, it waits for
// a.pace before every event but the first, [DONE] included. It stops
// early when the client goes away.
func (a *API) stream(w http.ResponseWriter, r *http.Request, events []chatChunk) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(data []byte) bool {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	paced := func() bool {
		select {
		case <-a.pace:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	var timer *time.Timer
	for n, ev := range events {
		if n > 0 && a.pace != nil && !paced() {
			return
		}
		if n > 0 && a.pace == nil && a.delay > 0 {
			if timer == nil {
				timer = time.NewTimer(a.delay)
				defer timer.Stop()
			} else {
				timer.Reset(a.delay)
			}
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
			}
		}
		b, err := json.Marshal(ev)
		if err != nil || !send(b) {
			return
		}
	}
	if a.pace != nil && !paced() {
		return
	}
	send([]byte("[DONE]"))
}

// contentText is the text of a message content: a string, or an array of
// parts whose "text" parts are joined with spaces.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// truncate shortens s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n]) + "…"
}

// pieces splits s into words, each but the last keeping its following
// space, so that the pieces concatenate back to s.
func pieces(s string) []string {
	var out []string
	for s != "" {
		n := strings.IndexByte(s, ' ')
		if n < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:n+1])
		s = s[n+1:]
	}
	return out
}
