package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// maxPendingEvent bounds the incomplete SSE event usageStripper holds;
// past it, the stream is passed through unfiltered.
const maxPendingEvent = 1 << 20

// injectStreamUsage asks the upstream for the usage of a streamed chat
// completion that did not ask for it: on a body the gateway buffered (a
// model-routed route) that is a JSON object with "stream": true and no
// member named stream_options in any letter case, it adds
// "stream_options":{"include_usage":true} as the first member. It reports
// whether it did; the extra chunk is then removed from the client's
// stream (usageStripper), so that the client sees what it asked for.
// Nothing the gateway judged changes: the model member is left as it was.
func injectStreamUsage(r *http.Request) bool {
	if r.GetBody == nil {
		return false
	}
	rc, err := r.GetBody()
	if err != nil {
		return false
	}
	b, err := io.ReadAll(rc)
	if err != nil || !json.Valid(b) {
		return false
	}
	i := jsonwalk.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	open := i
	stream := false
	for i++; ; {
		i = jsonwalk.SkipSpace(b, i)
		if b[i] == '}' {
			break
		}
		if b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
		end := jsonwalk.StringEnd(b, i)
		key := jsonwalk.String(b[i:end])
		i = jsonwalk.SkipSpace(b, jsonwalk.SkipSpace(b, end)+1)
		vend := jsonwalk.ValueEnd(b, i)
		switch {
		case strings.EqualFold(key, "stream_options"):
			return false
		case key == "stream":
			stream = string(b[i:vend]) == "true"
		case strings.EqualFold(key, "stream"):
			return false // a spelling some servers read as stream: leave it alone
		}
		i = vend
	}
	if !stream {
		return false
	}
	out := make([]byte, 0, len(b)+40)
	out = append(out, b[:open+1]...)
	out = append(out, `"stream_options":{"include_usage":true},`...)
	out = append(out, b[open+1:]...)
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	r.ContentLength = int64(len(out))
	return true
}

// usageStripper relays an SSE stream event by event, feeding every event
// to the usage scanner and dropping the usage-only chunk (no choices, a
// usage object) that injectStreamUsage made the upstream add. It holds
// at most one incomplete event.
type usageStripper struct {
	src      io.ReadCloser
	u        *usageScanner
	pending  []byte
	out      []byte
	passthru bool
	err      error
	buf      [4096]byte
}

func (s *usageStripper) Close() error { return s.src.Close() }

func (s *usageStripper) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			if len(s.pending) > 0 { // a final event without its blank line
				s.emit(s.pending)
				s.pending = nil
				continue
			}
			return 0, s.err
		}
		n, err := s.src.Read(s.buf[:])
		s.err = err
		if s.passthru {
			s.u.feed(s.buf[:n])
			s.out = append(s.out, s.buf[:n]...)
			continue
		}
		s.pending = append(s.pending, s.buf[:n]...)
		for {
			end := eventEnd(s.pending)
			if end < 0 {
				break
			}
			s.emit(s.pending[:end])
			s.pending = s.pending[end:]
		}
		if len(s.pending) > maxPendingEvent {
			s.u.feed(s.pending)
			s.out = append(s.out, s.pending...)
			s.pending, s.passthru = nil, true
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	if len(s.out) == 0 {
		s.out = s.out[:0:0] // release the storage: events are short-lived
	}
	return n, nil
}

// emit feeds one event to the scanner and keeps it unless it is the
// usage-only chunk.
func (s *usageStripper) emit(ev []byte) {
	s.u.feed(ev)
	if !s.u.sse || !usageOnly(ev) {
		s.out = append(s.out, ev...)
	}
}

// eventEnd returns the index after the first complete SSE event of b (a
// blank line ends it), or -1.
func eventEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return j + 1
		}
	}
	return -1
}

// usageOnly reports whether the event is a chunk with an empty choices
// list and a usage object: the one stream_options.include_usage adds.
func usageOnly(ev []byte) bool {
	if !bytes.Contains(ev, []byte(`"usage"`)) {
		return false
	}
	for line := range bytes.Lines(ev) {
		data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:"))
		if !ok {
			continue
		}
		var v struct {
			Choices *[]json.RawMessage `json:"choices"`
			Usage   map[string]any     `json:"usage"`
		}
		if json.Unmarshal(data, &v) == nil && v.Choices != nil && len(*v.Choices) == 0 && v.Usage != nil {
			return true
		}
	}
	return false
}
