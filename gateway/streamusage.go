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
// completion that did not ask for it, so that a client cannot turn off
// the usage it is billed by. On a body the gateway buffered (a
// model-routed route) that is a JSON object whose "stream" is true (or
// any value but false and null: lax decoders, such as pydantic's behind
// vLLM, read "true" or 1 as true), it adds
// "stream_options":{"include_usage":true} as the first member when there
// is no stream_options (or it is null), or, when stream_options is an
// object without "include_usage": true, makes include_usage true there
// (its other members kept). It reports whether it did; the extra chunk
// is then removed from the client's stream (usageStripper), so that the
// client sees what it asked for. Nothing the gateway judged changes: the
// model member is left as it was.
//
// A body that names stream, stream_options or include_usage ambiguously
// (twice, or in another letter case, which some servers read as the
// member and others ignore), or whose stream_options is neither an object
// nor null, is refused: problem says why (the answer is a 400). Left
// alone, it could stream without usage, billed only its reservation.
func injectStreamUsage(r *http.Request) (injected bool, problem string) {
	if r.GetBody == nil {
		return false, ""
	}
	rc, err := r.GetBody()
	if err != nil {
		return false, ""
	}
	b, err := io.ReadAll(rc)
	if err != nil || !json.Valid(b) {
		return false, ""
	}
	i := jsonwalk.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false, ""
	}
	const ambiguous = `the request body names "stream", "stream_options" or "include_usage" twice or in another letter case: send each once, spelled so`
	stream, seenStream := false, false
	var opts *jsonMember
	members := jsonMembers(b, i)
	for k, m := range members {
		switch {
		case m.key == "stream_options" && opts == nil:
			opts = &members[k]
		case m.key == "stream" && !seenStream:
			v := string(b[m.start:m.end])
			stream, seenStream = v != "false" && v != "null", true
		case strings.EqualFold(m.key, "stream_options"), strings.EqualFold(m.key, "stream"):
			return false, ambiguous
		}
	}
	if !stream {
		return false, ""
	}
	var obj []byte // the new value of stream_options
	switch {
	case opts == nil:
	case b[opts.start] == 'n': // null
		obj = []byte(`{"include_usage":true}`)
	case b[opts.start] != '{':
		return false, `the request body's "stream_options" must be an object`
	default:
		obj = append(make([]byte, 0, opts.end-opts.start+24), `{"include_usage":true`...)
		seen, asked := false, false
		for _, m := range jsonMembers(b, opts.start) {
			switch {
			case m.key == "include_usage" && !seen:
				// Anything but true is replaced: a lax decoder reads
				// "false" or 0 as false.
				seen, asked = true, string(b[m.start:m.end]) == "true"
			case strings.EqualFold(m.key, "include_usage"):
				return false, ambiguous
			default:
				obj = append(obj, ',')
				obj = append(obj, b[m.kstart:m.kend]...)
				obj = append(obj, ':')
				obj = append(obj, b[m.start:m.end]...)
			}
		}
		if asked {
			return false, "" // the client's own: nothing to add, nothing to strip
		}
		obj = append(obj, '}')
	}
	out := make([]byte, 0, len(b)+40)
	if obj == nil {
		out = append(out, b[:i+1]...)
		out = append(out, `"stream_options":{"include_usage":true},`...)
		out = append(out, b[i+1:]...)
	} else {
		out = append(out, b[:opts.start]...)
		out = append(out, obj...)
		out = append(out, b[opts.end:]...)
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	r.ContentLength = int64(len(out))
	return true, ""
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
