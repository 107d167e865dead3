package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name, in, want string
	}{
		{"valid sampled", "00-" + tid + "-00f067aa0ba902b7-01", tid},
		{"valid not sampled", "00-" + tid + "-00f067aa0ba902b7-00", tid},
		{"unknown flags kept", "00-" + tid + "-00f067aa0ba902b7-ff", tid},
		{"future version, same length", "01-" + tid + "-00f067aa0ba902b7-01", tid},
		{"future version with more fields", "01-" + tid + "-00f067aa0ba902b7-01-what-the-future-holds", tid},
		{"future version, no dash after flags", "01-" + tid + "-00f067aa0ba902b7-01x", ""},
		{"version 00 longer", "00-" + tid + "-00f067aa0ba902b7-01-extra", ""},
		{"version ff", "ff-" + tid + "-00f067aa0ba902b7-01", ""},
		{"upper-case hex", "00-" + strings.ToUpper(tid) + "-00f067aa0ba902b7-01", ""},
		{"upper-case version", "0A-" + tid + "-00f067aa0ba902b7-01", ""},
		{"zero trace-id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"zero parent-id", "00-" + tid + "-0000000000000000-01", ""},
		{"short trace-id", "00-" + tid[:31] + "-00f067aa0ba902b7-01", ""},
		{"non-hex", "00-" + tid[:31] + "g-00f067aa0ba902b7-01", ""},
		{"wrong separators", "00_" + tid + "-00f067aa0ba902b7-01", ""},
		{"empty", "", ""},
		{"truncated", "00-" + tid, ""},
		{"spaces", " 00-" + tid + "-00f067aa0ba902b7-01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseTraceparent(tt.in); got != tt.want {
				t.Errorf("parseTraceparent(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("two headers", func(t *testing.T) {
		h := http.Header{"Traceparent": {validTraceparent, validTraceparent}}
		if got := traceIDOf(h); got != "" {
			t.Errorf("two traceparent headers gave trace id %q; want none", got)
		}
	})
}

// TestTraceparentForwarding: a valid traceparent and its tracestate reach
// the upstream byte for byte; an invalid one is dropped with its
// tracestate, and the audit record then has no trace id.
func TestTraceparentForwarding(t *testing.T) {
	w := newWorld(t, "")
	tok := w.token("chat:completions")
	tests := []struct {
		name, traceparent string
		forwarded         bool
	}{
		{"valid", validTraceparent, true},
		{"future version", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ext", true},
		{"invalid", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"garbage", "hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "tp-" + strings.ReplaceAll(tt.name, " ", "-")
			rec := w.do("POST", "/v1/chat/completions", tok, "X-Request-Id", id,
				"Traceparent", tt.traceparent, "Tracestate", "vendor=opaque")
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h, _ := w.up.lastHeader()
			tp, ts := h.Get("Traceparent"), h.Get("Tracestate")
			hasTraceID := w.record(id).Has("trace_id")
			if tt.forwarded {
				if tp != tt.traceparent || ts != "vendor=opaque" {
					t.Errorf("upstream got traceparent %q, tracestate %q; want them untouched", tp, ts)
				}
				if !hasTraceID {
					t.Errorf("audit record without trace_id")
				}
			} else {
				if tp != "" || ts != "" {
					t.Errorf("upstream got traceparent %q, tracestate %q; want both dropped", tp, ts)
				}
				if hasTraceID {
					t.Errorf("audit record has a trace_id from an invalid traceparent")
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	w := newWorld(t, "")
	tok := w.token("chat:completions")
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"plain", "req-123_abc.def:9", true},
		{"max length", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"quote", `a"b`, false},
		{"non-ASCII", "réq", false},
		{"none", "", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec = w.do("POST", "/v1/chat/completions", tok, "X-Request-Id", tt.sent)
			if tt.sent == "" {
				rec = w.do("POST", "/v1/chat/completions", tok)
			}
			got := rec.Header().Get("X-Request-Id")
			h, _ := w.up.lastHeader()
			if up := h.Values("X-Request-Id"); len(up) != 1 || up[0] != got {
				t.Errorf("upstream got X-Request-Id %q; want exactly the client's %q", up, got)
			}
			if tt.kept && got != tt.sent {
				t.Errorf("X-Request-Id %q; want the client's %q kept", got, tt.sent)
			}
			if !tt.kept {
				if got == tt.sent || len(got) != 32 || !lowerHex(got) || seen[got] {
					t.Errorf("X-Request-Id %q; want a fresh 32-hex-digit id", got)
				}
				seen[got] = true
			}
			w.record(got)
		})
	}
}

// FuzzParseTraceparent: whatever the input, a trace id returned is the
// input's own 32 lower-case hex digits, never all zeros.
func FuzzParseTraceparent(f *testing.F) {
	f.Add(validTraceparent)                                              // valid version 00
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ext") // later version with more fields
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")     // forbidden version
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01")     // zero trace id
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		got := parseTraceparent(in)
		if got == "" {
			return
		}
		if len(got) != 32 || !lowerHex(got) || allZeros(got) || in[3:35] != got {
			t.Errorf("parseTraceparent(%q) = %q", in, got)
		}
		if strings.HasPrefix(in, "00-") && len(in) != 55 {
			t.Errorf("version 00 of length %d accepted", len(in))
		}
	})
}
