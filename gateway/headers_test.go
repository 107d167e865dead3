package gateway

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{"none", nil, "", errNoBearer},
		{"plain", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"scheme case-insensitive", []string{"bEaReR abc"}, "abc", nil},
		{"extra spaces", []string{"Bearer    abc  "}, "abc", nil},
		{"padding", []string{"Bearer abc=="}, "abc==", nil},
		{"basic is no bearer", []string{"Basic dXNlcjpwYXNz"}, "", errNoBearer},
		{"glued scheme", []string{"Bearerabc"}, "", errNoBearer},
		{"empty", []string{"Bearer"}, "", errEmptyBearer},
		{"only spaces", []string{"Bearer   "}, "", errEmptyBearer},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", errTwoAuthHeaders},
		{"folded", []string{"Bearer a, Bearer b"}, "", errTwoAuthHeaders},
		{"space inside", []string{"Bearer a b"}, "", errBadBearer},
		{"quote", []string{`Bearer "abc"`}, "", errBadBearer},
		{"equals inside", []string{"Bearer a=b"}, "", errBadBearer},
		{"control", []string{"Bearer a\x00b"}, "", errBadBearer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.headers {
				h.Add("Authorization", v)
			}
			got, err := bearerToken(h)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestStripQueryToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"access_token=x", ""},
		{"a=1&access_token=x&b=%20", "a=1&b=%20"},
		{"ACCESS_TOKEN=x&a=1", "a=1"},
		{"access%5Ftoken=x&a=1", "a=1"},
		{"a=1&access_token&b", "a=1&b"},
		{"access_tokens=x", "access_tokens=x"},
	}
	for _, tt := range tests {
		if got := stripQueryToken(tt.in); got != tt.want {
			t.Errorf("stripQueryToken(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanInbound(t *testing.T) {
	h := http.Header{}
	h["X-Auth-Subject"] = []string{"admin"}
	h["X_auth_subject"] = []string{"admin"}
	h["X-Auth-Scopes"] = []string{"everything"}
	h["X_Forwarded_For"] = []string{"1.2.3.4"}
	h["X-Http-Method-Override"] = []string{"DELETE"}
	h["X-Method-Override"] = []string{"DELETE"}
	h["x-http-method"] = []string{"DELETE"}
	h["X_Http_Method_Override"] = []string{"DELETE"}
	for _, k := range []string{"X-Original-Url", "X-Rewrite-Url", "x-original-uri", "X_Original_URL", "X-Override-Url",
		"X-Forwarded-Uri", "X-Forwarded-Path", "X-Forwarded-Prefix", "X-Envoy-Original-Path"} {
		h[k] = []string{"/admin/delete-everything"}
	}
	h["Upgrade"] = []string{"h2c"}
	h["X-Keep"] = []string{"yes"}
	identity := map[string]bool{"x-auth-subject": true, "x-auth-client-id": true, "x-auth-scopes": true}
	cleanInbound(h, identity, false)
	if len(h) != 1 || h.Get("X-Keep") != "yes" {
		t.Errorf("got %v; want only X-Keep left", h)
	}
}

func TestSetForwarded(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	in := func(remote string) *http.Request {
		r, _ := http.NewRequest("GET", "http://gw.example/v1/models", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "6.6.6.6")
		r.Header.Set("X-Real-Ip", "6.6.6.6")
		r.Header.Set("Forwarded", "for=6.6.6.6")
		return r
	}
	t.Run("untrusted peer replaces", func(t *testing.T) {
		r := in("192.0.2.7:5555")
		out := &http.Request{Header: http.Header{}}
		setForwarded(out, r, trusted)
		for k, want := range map[string]string{"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "192.0.2.7", "Forwarded": "for=192.0.2.7;proto=http;host=gw.example"} {
			if got := out.Header.Get(k); got != want {
				t.Errorf("%s: got %q; want %q", k, got, want)
			}
		}
	})
	t.Run("trusted peer appends", func(t *testing.T) {
		r := in("10.1.2.3:5555")
		out := &http.Request{Header: http.Header{}}
		setForwarded(out, r, trusted)
		for k, want := range map[string]string{"X-Forwarded-For": "6.6.6.6, 10.1.2.3", "X-Real-Ip": "6.6.6.6"} {
			if got := out.Header.Get(k); got != want {
				t.Errorf("%s: got %q; want %q", k, got, want)
			}
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		r := in("[::1]:5555")
		out := &http.Request{Header: http.Header{}}
		setForwarded(out, r, nil)
		if got, want := out.Header.Get("Forwarded"), `for="[::1]";proto=http;host=gw.example`; got != want {
			t.Errorf("got %q; want %q", got, want)
		}
	})
}

// setForwarded is setForwardedWith with a header-values buffer of its own.
func setForwarded(out, in *http.Request, trusted []netip.Prefix) {
	var a headerValues
	setForwardedWith(&a, out, in, trusted)
}

// TestCleanInboundAllocates: judging a client's headers costs no
// allocation per header (it runs on every request); it did one per name.
func TestCleanInboundAllocates(t *testing.T) {
	identity := map[string]bool{"x-auth-subject": true}
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"openai-go/1.0"},
		"Accept": {"application/json"}, "Authorization": {"Bearer x"}, "X-Stainless-Lang": {"go"}}
	if n := testing.AllocsPerRun(100, func() { cleanInbound(h, identity, false) }); n != 0 {
		t.Errorf("cleanInbound: %v allocations per call; want 0", n)
	}
	if len(h) != 5 {
		t.Errorf("cleanInbound removed a header it should keep: %v", h)
	}
}
