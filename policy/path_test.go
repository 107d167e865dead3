package policy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalPathRefused(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", `path does not start with "/"`},
		{"relative", "v1/models", `path does not start with "/"`},
		{"asterisk", "*", `path does not start with "/"`},
		{"absolute URL", "http://x/v1", `path does not start with "/"`},
		{"too long", "/" + strings.Repeat("a", MaxPathLength), "path too long"},
		{"dot", "/v1/./models", "dot segment"},
		{"dotdot", "/v1/../admin", "dot segment"},
		{"final dotdot", "/v1/..", "dot segment"},
		{"encoded dot", "/v1/%2e/models", "dot segment"},
		{"encoded dotdot lower", "/v1/%2e%2e/admin", "dot segment"},
		{"encoded dotdot upper", "/v1/%2E%2E/admin", "dot segment"},
		{"encoded dotdot mixed", "/v1/.%2E/admin", "dot segment"},
		{"encoded dotdot mixed 2", "/v1/%2e./admin", "dot segment"},
		{"encoded slash", "/v1/models%2Fx", "encoded slash"},
		{"encoded slash lower", "/v1/models%2fx", "encoded slash"},
		{"backslash", `/v1\models`, "backslash"},
		{"encoded backslash", "/v1%5Cmodels", "backslash"},
		{"encoded backslash lower", "/v1%5cmodels", "backslash"},
		{"backslash dotdot", `/v1/..\admin`, "backslash"},
		{"doubled slash", "//v1/models", "empty segment (doubled slash)"},
		{"doubled slash inside", "/v1//models", "empty segment (doubled slash)"},
		{"doubled trailing slash", "/v1/models//", "empty segment (doubled slash)"},
		{"NUL", "/v1/models\x00", "control character"},
		{"encoded NUL", "/v1/models%00.json", "control character"},
		{"encoded LF", "/v1/models%0a", "control character"},
		{"encoded CR", "/v1/models%0Dx", "control character"},
		{"raw tab", "/v1/mo\tdels", "control character"},
		{"DEL", "/v1/models%7f", "control character"},
		{"C1 control", "/v1/models%C2%85x", "control character"},
		{"semicolon", "/v1/models;jsessionid=1", "semicolon (matrix parameter)"},
		{"encoded semicolon", "/v1/models%3Bx", "semicolon (matrix parameter)"},
		{"encoded semicolon lower", "/v1/models%3bx", "semicolon (matrix parameter)"},
		{"trailing dot", "/v1/models.", "segment ends in a dot or a space"},
		{"trailing dot mid", "/v1./models", "segment ends in a dot or a space"},
		{"encoded trailing dot", "/v1/models%2e", "segment ends in a dot or a space"},
		{"encoded trailing space", "/v1/models%20", "segment ends in a dot or a space"},
		{"triple dot", "/v1/.../models", "segment ends in a dot or a space"},
		{"bad escape", "/v1/%zzmodels", "invalid percent escape"},
		{"bad escape second digit", "/v1/%4gmodels", "invalid percent escape"},
		{"truncated escape", "/v1/models%4", "invalid percent escape"},
		{"lone percent", "/v1/models%", "invalid percent escape"},
		{"invalid UTF-8", "/v1/caf%E9", "invalid UTF-8"},
		{"overlong dot", "/v1/%C0%AE%C0%AE/admin", "invalid UTF-8"},
		{"raw invalid UTF-8", "/v1/caf\xe9", "invalid UTF-8"},
		{"double-encoded dot", "/v1/%252e%252e/admin", "double-encoded character"},
		{"double-encoded slash", "/v1/a%252Fb", "double-encoded character"},
		{"double-encoded backslash", "/v1/a%255cb", "double-encoded character"},
		{"double-encoded percent", "/v1/a%25252e", "double-encoded character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d, err := CanonicalPath(tt.in)
			if err == nil {
				t.Fatalf("CanonicalPath(%.80q) = %.80q, %.80q; want an error", tt.in, c, d)
			}
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("error %v does not wrap ErrBadPath", err)
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Reason != tt.reason {
				t.Errorf("CanonicalPath(%q) error = %v; want reason %q", tt.in, err, tt.reason)
			}
			if c != "" || d != "" {
				t.Errorf("refused path returned %q, %q", c, d)
			}
		})
	}
}

func TestCanonicalPathAccepted(t *testing.T) {
	tests := []struct {
		name, in, canonical, decoded string
	}{
		{"root", "/", "/", "/"},
		{"plain", "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions"},
		{"trailing slash", "/v1/models/", "/v1/models/", "/v1/models/"},
		{"unreserved decoded", "/v1/%6Dodels", "/v1/models", "/v1/models"},
		{"unreserved upper hex", "/v1/%6dodels%2D%5F%7E%2Ex", "/v1/models-_~.x", ""},
		{"dot inside segment", "/v1/a.b/.well-known", "/v1/a.b/.well-known", "/v1/a.b/.well-known"},
		{"encoded dot inside segment", "/v1/a%2Eb", "/v1/a.b", "/v1/a.b"},
		{"space kept escaped", "/a%20b/c", "/a%20b/c", "/a b/c"},
		{"raw space escaped", "/a b/c", "/a%20b/c", "/a b/c"},
		{"lower hex upper-cased", "/a%3fb", "/a%3Fb", "/a?b"},
		{"percent kept", "/100%25", "/100%25", "/100%"},
		{"percent then non-hex", "/a%25zz", "/a%25zz", "/a%zz"},
		{"unicode", "/caf%C3%A9", "/caf%C3%A9", "/café"},
		{"unicode lower hex", "/caf%c3%a9", "/caf%C3%A9", "/café"},
		{"raw unicode", "/café", "/caf%C3%A9", "/café"},
		{"sub-delims literal", "/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="},
		{"encoded sub-delims decoded", "/a%3Ab%40c%2B", "/a:b@c+", "/a:b@c+"},
		{"brackets escaped", "/a[b]", "/a%5Bb%5D", "/a[b]"},
		{"hash and question escaped", "/a%23b%3F", "/a%23b%3F", "/a#b?"},
		{"case preserved", "/V1/Models", "/V1/Models", "/V1/Models"},
		{"longest allowed", "/" + strings.Repeat("a", MaxPathLength-1), "/" + strings.Repeat("a", MaxPathLength-1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d, err := CanonicalPath(tt.in)
			if err != nil {
				t.Fatalf("CanonicalPath(%.80q): %v", tt.in, err)
			}
			want := tt.decoded
			if want == "" {
				want, _ = url.PathUnescape(tt.canonical)
			}
			if c != tt.canonical || d != want {
				t.Fatalf("CanonicalPath(%.80q) = %.80q, %.80q; want %.80q, %.80q", tt.in, c, d, tt.canonical, want)
			}
			checkCanonical(t, tt.in, c, d)
		})
	}
}

// checkCanonical asserts the properties every accepted path has.
func checkCanonical(t testing.TB, in, c, d string) {
	t.Helper()
	if c2, d2, err := CanonicalPath(c); err != nil || c2 != c || d2 != d {
		t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want %q, %q (idempotence, from %q)", c, c2, d2, err, c, d, in)
	}
	if u, err := url.PathUnescape(c); err != nil || u != d {
		t.Fatalf("url.PathUnescape(%q) = %q, %v; want %q", c, u, err, d)
	}
	// The gateway forwards with URL.Path = decoded, URL.RawPath = canonical.
	u := url.URL{Path: d, RawPath: c}
	if got := u.EscapedPath(); got != c {
		t.Fatalf("URL{Path: %q, RawPath: %q}.EscapedPath() = %q; want %q", d, c, got, c)
	}
	// Whatever a client writes, the canonical form depends on the decoded
	// form alone.
	if e := escapeAll(d); len(e) <= MaxPathLength {
		if c3, _, err := CanonicalPath(e); err != nil || c3 != c {
			t.Fatalf("CanonicalPath(%q) = %q, %v; want %q", e, c3, err, c)
		}
	}
	if strings.Contains(d, "//") || strings.IndexByte(d, 0) >= 0 {
		t.Fatalf("decoded %q has an empty segment or NUL", d)
	}
	for seg := range strings.SplitSeq(d, "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("decoded %q has a dot segment", d)
		}
	}
}

// escapeAll percent-encodes every byte but '/'.
func escapeAll(d string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(d); i++ {
		if d[i] == '/' {
			b.WriteByte('/')
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[d[i]>>4])
		b.WriteByte(hex[d[i]&15])
	}
	return b.String()
}

func TestCanonicalPathAllocs(t *testing.T) {
	for _, in := range []string{"/v1/chat/completions", "/v1/../x", "/v1/%2e%2e/x"} {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = CanonicalPath(in) }); n != 0 {
			t.Errorf("CanonicalPath(%q) allocates %v times", in, n)
		}
	}
}
