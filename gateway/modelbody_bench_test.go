package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func chatBody(size int) []byte {
	pad := strings.Repeat("lorem ipsum ", size/12)
	return []byte(`{"messages":[{"role":"system","content":"` + pad + `"},{"role":"user","content":"hi"}],"stream":true,"model":"gpt-4o-mini","temperature":0.2}`)
}

func BenchmarkModelFromJSON(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		body := chatBody(size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if m, p := modelFromJSON(body); m != "gpt-4o-mini" {
					b.Fatal(p)
				}
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return itoaB(n>>20) + "MiB"
	case n >= 1<<10:
		return itoaB(n>>10) + "KiB"
	}
	return itoaB(n) + "B"
}

func itoaB(n int) string { b, _ := json.Marshal(n); return string(b) }

// FuzzModelFromJSON checks that whenever a model is accepted, a
// standard-library decoding of the same body (what most upstreams do)
// finds the same model under "model".
func FuzzModelFromJSON(f *testing.F) {
	for _, seed := range []string{
		`{"model":"gpt-4o"}`,                  // plain
		`{"mod\u0065l":"a"}`,                  // escaped name
		`{"model":"a","model":"b"}`,           // duplicate
		`{"Model":"a"}`,                       // case variant
		`{"model":"a"} x`,                     // trailing data
		`{"x":{"model":"b"},"model":"a"}`,     // nested decoy
		"{\"model\":\"a\xff\"}",               // invalid UTF-8
		`{"model":"\ud800"}`,                  // lone surrogate
		`[{"model":"a"}]`,                     // not an object
		`{"model":"a","k":[1,2,{"model":3}]}`, // deep decoy
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		model, problem := modelFromJSON(body)
		if problem != "" {
			if model != "" {
				t.Fatalf("a problem and a model %q", model)
			}
			return
		}
		if model == "" || !utf8.Valid(body) {
			t.Fatalf("accepted %q with model %q", body, model)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %q: %v", body, err)
		}
		var got string
		if err := json.Unmarshal(m["model"], &got); err != nil || got != model {
			t.Fatalf("model %q; encoding/json reads %q (%v) from %q", model, got, err, body)
		}
		var s struct{ Model string }
		if err := json.Unmarshal(body, &s); err != nil || s.Model != model {
			t.Fatalf("model %q; a case-insensitive struct decoder reads %q from %q", model, s.Model, body)
		}
	})
}
