package header

import (
	"strings"
	"testing"
)

// TestFoldAsNorm: the allocation-free fold judges every name as Norm
// does, the non-ASCII and long ones included.
func TestFoldAsNorm(t *testing.T) {
	for _, name := range []string{
		"", "Authorization", "AUTHORIZATION", "X_Auth_Subject", "x-auth-subject", "X-Http-Method-Override",
		"Dpop", "Client_Cert_Chain", "\u212Aeep-Alive", // the Kelvin sign lowers to ASCII 'k'
		"X-Ünicode", "bad\xffutf8", strings.Repeat("X", 64), strings.Repeat("X_", 40),
	} {
		var f Folded
		if got, want := string(f.Fold(name)), Norm(name); got != want {
			t.Errorf("Fold(%q) = %q; want %q", name, got, want)
		}
	}
}

// TestFoldAllocates: an ASCII name of up to 64 bytes folds, and is looked
// up, without an allocation.
func TestFoldAllocates(t *testing.T) {
	var f Folded
	if n := testing.AllocsPerRun(100, func() { _ = Reserved[string(f.Fold("X-Forwarded-For"))] }); n != 0 {
		t.Errorf("Fold and lookup: %v allocations; want 0", n)
	}
}

// FuzzFold holds the fold to Norm on any name.
func FuzzFold(f *testing.F) {
	for _, seed := range []string{"X_Auth_Subject", "\u212Aeep-Alive", strings.Repeat("a", 65), "Content-Type"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		var fn Folded
		if got, want := string(fn.Fold(name)), Norm(name); got != want {
			t.Errorf("Fold(%q) = %q; want %q", name, got, want)
		}
	})
}
