package header

import "unicode/utf8"

// Folded holds a header name folded as Norm folds it, in its own array,
// so that judging a request's headers costs no allocation per header (the
// gateway does it on every request, over every header the client sent).
// Look the result up with m[string(b)]: that conversion does not allocate.
type Folded struct {
	buf [64]byte
}

// Fold returns Norm(name) as bytes: in f's array for an ASCII name that
// fits, valid until the next Fold; else (a long or a non-ASCII name, which
// net/http's server does not let through anyway) Norm's own result, so
// that the two never disagree: strings.ToLower folds some non-ASCII
// letters to ASCII ones (the Kelvin sign to 'k').
func (f *Folded) Fold(name string) []byte {
	if len(name) > len(f.buf) {
		return []byte(Norm(name))
	}
	b := f.buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= utf8.RuneSelf:
			return []byte(Norm(name))
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		b[i] = c
	}
	return b
}
