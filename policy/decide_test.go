package policy

import (
	"slices"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		scopes  []string
		public  bool
		granted []string
		allowed bool
		missing []string
	}{
		{"exact", []string{"generate:images"}, false, []string{"generate:images"}, true, nil},
		{"among others", []string{"generate:images"}, false, []string{"read", "generate:images", "x"}, true, nil},
		{"prefix is not a match", []string{"generate:images"}, false, []string{"generate:images2"}, false, []string{"generate:images"}},
		{"shorter is not a match", []string{"generate:images2"}, false, []string{"generate:images"}, false, []string{"generate:images2"}},
		{"case-sensitive", []string{"generate:images"}, false, []string{"Generate:Images"}, false, []string{"generate:images"}},
		{"no substring of a joined string", []string{"b"}, false, []string{"a b c"}, false, []string{"b"}},
		{"all required", []string{"a", "b", "c"}, false, []string{"c", "a"}, false, []string{"b"}},
		{"missing in route order", []string{"c", "a", "b"}, false, nil, false, []string{"c", "a", "b"}},
		{"all present", []string{"a", "b"}, false, []string{"b", "a", "b"}, true, nil},
		{"any valid token", []string{}, false, nil, true, nil},
		{"public", nil, true, nil, true, nil},
		{"empty granted string", []string{"a"}, false, []string{""}, false, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Route{Scopes: tt.scopes, Public: tt.public}
			d := r.Decide(tt.granted)
			if d.Allowed != tt.allowed || !slices.Equal(d.Missing, tt.missing) {
				t.Errorf("Decide(%q) = %+v; want Allowed %v, Missing %q", tt.granted, d, tt.allowed, tt.missing)
			}
		})
	}
}

func TestDecideAllowedAllocs(t *testing.T) {
	r := &Route{Scopes: []string{"a", "b"}}
	granted := []string{"b", "a"}
	if n := testing.AllocsPerRun(100, func() { _ = r.Decide(granted) }); n != 0 {
		t.Errorf("an allowed Decide allocates %v times", n)
	}
}
