package policy

import "testing"

func TestCompileMaxBodyBytes(t *testing.T) {
	t.Run("copied to the route", func(t *testing.T) {
		a, b := rt("small", "POST /small", "s"), rt("default", "POST /default", "s")
		a.MaxBodyBytes = 1024
		tab, err := Compile([]RouteConfig{a, b}, knownUpstream)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := tab.Match("POST", "/small"); got == nil || got.MaxBody != 1024 {
			t.Errorf("small route: got %+v; want MaxBody 1024", got)
		}
		if got, _ := tab.Match("POST", "/default"); got == nil || got.MaxBody != 0 {
			t.Errorf("default route: got %+v; want MaxBody 0 (the server's cap)", got)
		}
	})
	t.Run("negative refused", func(t *testing.T) {
		a := rt("neg", "POST /neg", "s")
		a.MaxBodyBytes = -1
		_, err := Compile([]RouteConfig{a}, knownUpstream)
		want := "routes[0].max_body_bytes: must not be negative: write the largest body in bytes, or leave it out to use server.max_body_bytes"
		if err == nil || err.Error() != want {
			t.Errorf("got %v; want %q", err, want)
		}
	})
}
