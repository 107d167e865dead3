package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
)

// Bounds of what usageScanner keeps: a JSON response up to maxUsageBody
// bytes (of a larger one, only its top-level usage member, read as it
// passes: topUsage), an SSE line up to maxUsageLine.
const (
	maxUsageBody = 1 << 20
	maxUsageLine = 64 << 10
)

// usageScanner reads the "usage" of an OpenAI-shaped response as it is
// relayed, without holding the relay back: the whole body of a JSON
// response (parsed at the end), or of a stream (text/event-stream) only
// the current line, and the usage of the last data event that had one
// (the final chunk, with stream_options.include_usage).
type usageScanner struct {
	io.ReadCloser
	sse   bool
	buf   []byte // JSON: the body so far; SSE: the current line
	over  bool   // buf overflowed: the body (or line) is not kept
	found bool
	used  usage
	// top reads the usage of a JSON body as it passes, for one too large
	// to keep (over).
	top topUsage
}

// usage is what a response reported: total tokens, and whether they came
// split into prompt and completion tokens (which a cost budget needs).
type usage struct {
	total, prompt, completion int64
	split                     bool
}

func newUsageScanner(rc io.ReadCloser, sse bool) *usageScanner {
	return &usageScanner{ReadCloser: rc, sse: sse}
}

func (u *usageScanner) Read(p []byte) (int, error) {
	n, err := u.ReadCloser.Read(p)
	if n > 0 {
		u.feed(p[:n])
	}
	return n, err
}

func (u *usageScanner) feed(b []byte) {
	if !u.sse {
		switch {
		case u.over:
			u.top.feed(b)
		case len(u.buf)+len(b) > maxUsageBody:
			// Too large to keep: the body so far, and from now on what
			// passes, go through topUsage instead.
			u.top.feed(u.buf)
			u.top.feed(b)
			u.over, u.buf = true, nil
		default:
			u.buf = append(u.buf, b...)
		}
		return
	}
	for len(b) > 0 {
		line, rest, nl := bytes.Cut(b, []byte{'\n'})
		if !u.over {
			if len(u.buf)+len(line) > maxUsageLine {
				u.over, u.buf = true, u.buf[:0]
			} else {
				u.buf = append(u.buf, line...)
			}
		}
		if !nl {
			return
		}
		if !u.over {
			u.sseLine(u.buf)
		}
		u.buf, u.over, b = u.buf[:0], false, rest
	}
}

// sseLine takes the usage of a data line whose "usage" is an object
// (chunks before the last carry "usage":null).
func (u *usageScanner) sseLine(line []byte) {
	data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
	if !ok {
		return
	}
	// Any "usage" followed by ':' and an object, not only the first: the
	// string "usage" may come before as a value (a tool or model so named).
	for rest := data; ; {
		i := bytes.Index(rest, []byte(`"usage"`))
		if i < 0 {
			return
		}
		rest = rest[i+len(`"usage"`):]
		v, ok := bytes.CutPrefix(bytes.TrimLeft(rest, " \t"), []byte(":"))
		if ok && bytes.HasPrefix(bytes.TrimLeft(v, " \t"), []byte("{")) {
			break
		}
	}
	if used, ok := usageOf(data); ok {
		u.found, u.used = true, used
	}
}

// hasUsage reports whether the response so far reported a usable usage.
func (u *usageScanner) hasUsage() bool {
	_, ok := u.total()
	return ok
}

// total returns the usage the response reported, and whether it reported
// one that makes sense.
func (u *usageScanner) total() (usage, bool) {
	if u.sse {
		return u.used, u.found
	}
	if u.over {
		return u.top.usage()
	}
	if len(u.buf) == 0 {
		return usage{}, false
	}
	return usageOf(u.buf)
}

// usageOf reads usage.total_tokens (or prompt_tokens + completion_tokens)
// of an OpenAI-shaped JSON object: whole, not negative, not absurd; and
// the split, when prompt_tokens and completion_tokens are both sensible
// and (with a total) add up to at most the total. The Responses API's
// (and Anthropic's) input_tokens and output_tokens stand for prompt and
// completion tokens when those are absent, and a Responses API stream
// event carries its usage in its response member.
func usageOf(b []byte) (usage, bool) {
	type counts struct {
		Total      *float64 `json:"total_tokens"`
		Prompt     *float64 `json:"prompt_tokens"`
		Completion *float64 `json:"completion_tokens"`
		Input      *float64 `json:"input_tokens"`
		Output     *float64 `json:"output_tokens"`
	}
	var v struct {
		Usage    *counts `json:"usage"`
		Response *struct {
			Usage *counts `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(b, &v) != nil {
		return usage{}, false
	}
	if v.Usage == nil && v.Response != nil {
		v.Usage = v.Response.Usage
	}
	if v.Usage == nil {
		return usage{}, false
	}
	if v.Usage.Prompt == nil && v.Usage.Completion == nil {
		v.Usage.Prompt, v.Usage.Completion = v.Usage.Input, v.Usage.Output
	}
	ok := func(f *float64) bool { return f != nil && *f >= 0 && *f <= math.MaxInt32 && *f == math.Trunc(*f) }
	us := v.Usage
	var out usage
	if ok(us.Prompt) && ok(us.Completion) {
		out = usage{prompt: int64(*us.Prompt), completion: int64(*us.Completion), split: true}
		out.total = out.prompt + out.completion
	}
	switch {
	case ok(us.Total):
		t := int64(*us.Total)
		if out.split && out.total > t {
			// The parts claim more than the total: the split is not
			// trusted (a cost budget bills its reservation).
			out.split = false
		}
		out.total = t
		return out, true
	case us.Total == nil && out.split:
		return out, true
	}
	return usage{}, false
}
