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
// model-routed route) that is a JSON object with "stream": true (or any
// value but false and null, which lax decoders may read as true), it adds
// "stream_options":{"include_usage":true} as the first member when there
// is no stream_options, or, when there is one object stream_options
// without include_usage or with "include_usage": false, makes
// include_usage true there (its other members kept), so that a client
// cannot turn off the usage it is billed by. It reports whether it did;
// the extra chunk is then removed from the client's stream
// (usageStripper), so that the client sees what it asked for. A body
// that names stream, stream_options or include_usage ambiguously (twice,
// or in another letter case, which some servers read as the member) is
// left alone, and billed its reservation. Nothing the gateway judged
// changes: the model member is left as it was.
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
	stream := false
	var opts []int // the value of stream_options: start, end
	for _, m := range jsonMembers(b, i) {
		switch {
		case m.key == "stream_options" && opts == nil:
			opts = []int{m.start, m.end}
		case strings.EqualFold(m.key, "stream_options"):
			return false // a second copy, or a case variant
		case m.key == "stream":
			// Not only true: lax decoders (pydantic's, behind vLLM and
			// others) read "true", 1 or "yes" as true, and such a stream
			// must report its usage too. Only false and null are no stream.
			v := string(b[m.start:m.end])
			stream = v != "false" && v != "null"
		case strings.EqualFold(m.key, "stream"):
			return false // a spelling some servers read as stream: leave it alone
		}
	}
	if !stream {
		return false
	}
	out := make([]byte, 0, len(b)+40)
	if opts == nil {
		out = append(out, b[:i+1]...)
		out = append(out, `"stream_options":{"include_usage":true},`...)
		out = append(out, b[i+1:]...)
	} else {
		if b[opts[0]] != '{' {
			return false
		}
		obj := append(make([]byte, 0, opts[1]-opts[0]+24), `{"include_usage":true`...)
		seen, asked := false, false
		for _, m := range jsonMembers(b, opts[0]) {
			switch v := string(b[m.start:m.end]); {
			case m.key == "include_usage" && !seen && (v == "false" || v == "true"):
				seen, asked = true, v == "true"
			case strings.EqualFold(m.key, "include_usage"):
				return false // a second copy, a case variant, or not a boolean
			default:
				obj = append(obj, ',')
				obj = append(obj, b[m.kstart:m.kend]...)
				obj = append(obj, ':')
				obj = append(obj, b[m.start:m.end]...)
			}
		}
		if asked {
			return false // the client's own: nothing to add, nothing to strip
		}
		obj = append(obj, '}')
		out = append(out, b[:opts[0]]...)
		out = append(out, obj...)
		out = append(out, b[opts[1]:]...)
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	r.ContentLength = int64(len(out))
	return true
}

// jsonMember is one member of a JSON object: its name (unescaped), the
// span of its raw name and of its value.
type jsonMember struct {
	key                      string
	kstart, kend, start, end int
}

// jsonMembers lists the members of the object at b[i] (b is valid JSON).
func jsonMembers(b []byte, i int) []jsonMember {
	var out []jsonMember
	for i++; ; {
		i = jsonwalk.SkipSpace(b, i)
		if b[i] == '}' {
			return out
		}
		if b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
		m := jsonMember{kstart: i, kend: jsonwalk.StringEnd(b, i)}
		m.key = jsonwalk.String(b[m.kstart:m.kend])
		m.start = jsonwalk.SkipSpace(b, jsonwalk.SkipSpace(b, m.kend)+1)
		m.end = jsonwalk.ValueEnd(b, m.start)
		out = append(out, m)
		i = m.end
	}
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
