package strictjson

import "testing"

// A typical RFC 9068 access token payload with an act chain and a cnf.
var payload = []byte(`{"iss":"https://idp.example.com","sub":"agent-7","aud":["https://models.example.com"],"exp":1796000000,"iat":1795996400,"nbf":1795996400,"jti":"c2b1c7a4-3e55-4c8e-9a0e-0e3f1c1d2b3a","client_id":"agent-runner","scope":"chat:completions models:read generate:images","act":{"sub":"orchestrator","act":{"sub":"alice"}},"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"auth_time":1795996000}`)

// BenchmarkDecodeObject compares DecodeObject with tokenwise, the reader
// it replaced, in the same run.
func BenchmarkDecodeObject(b *testing.B) {
	for _, bc := range []struct {
		name   string
		decode func([]byte) (map[string]any, error)
	}{{"DecodeObject", DecodeObject}, {"tokenwise", tokenwise}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := bc.decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
