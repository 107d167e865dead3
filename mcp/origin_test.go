package mcp

import "testing"

func TestOriginAllowed(t *testing.T) {
	tb, err := Compile(Config{AllowedOrigins: []string{"https://app.example.com", "http://localhost:6274"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		values []string
		ok     bool
	}{
		{"none (not a browser)", nil, true},
		{"listed", []string{"https://app.example.com"}, true},
		{"listed, other case and default port", []string{"HTTPS://APP.example.com:443"}, true},
		{"listed with a port", []string{"http://localhost:6274"}, true},
		{"another port", []string{"http://localhost:6275"}, false},
		{"another scheme", []string{"http://app.example.com"}, false},
		{"look-alike", []string{"https://app.example.com.evil.example"}, false},
		{"null", []string{"null"}, false},
		{"empty", []string{""}, false},
		{"with a path", []string{"https://app.example.com/x"}, false},
		{"two values", []string{"https://app.example.com", "https://app.example.com"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tb.OriginAllowed(tt.values); got != tt.ok {
				t.Errorf("OriginAllowed(%q) = %v; want %v", tt.values, got, tt.ok)
			}
		})
	}
	for _, bad := range []string{"app.example.com", "null", "https://app.example.com/path", "ftp://x", "https://user@x"} {
		if _, err := Compile(Config{AllowedOrigins: []string{bad}}); err == nil {
			t.Errorf("allowed_origins %q compiled; want an error", bad)
		}
	}
}
