package policy

import (
	"errors"
	"unicode/utf8"
)

// MaxPathLength is the longest escaped path CanonicalPath accepts, in bytes.
const MaxPathLength = 8 << 10

// ErrBadPath is wrapped by every error CanonicalPath returns.
var ErrBadPath = errors.New("policy: path cannot be canonicalized")

// PathError is the error CanonicalPath returns. It matches ErrBadPath with
// errors.Is.
type PathError struct {
	// Reason is short, stable and safe to show to the client and to write in
	// audit logs, e.g. "dot segment" or "encoded slash".
	Reason string
}

func (e *PathError) Error() string { return ErrBadPath.Error() + ": " + e.Reason }

// Unwrap returns ErrBadPath.
func (e *PathError) Unwrap() error { return ErrBadPath }

// The refusals are shared values so that a refused request costs no
// allocation.
var (
	errTooLong       = &PathError{Reason: "path too long"}
	errNotAbsolute   = &PathError{Reason: `path does not start with "/"`}
	errBadEscape     = &PathError{Reason: "invalid percent escape"}
	errEncodedSlash  = &PathError{Reason: "encoded slash"}
	errBackslash     = &PathError{Reason: "backslash"}
	errControl       = &PathError{Reason: "control character"}
	errSemicolon     = &PathError{Reason: "semicolon (matrix parameter)"}
	errEmptySegment  = &PathError{Reason: "empty segment (doubled slash)"}
	errDotSegment    = &PathError{Reason: "dot segment"}
	errTrailingDot   = &PathError{Reason: "segment ends in a dot or a space"}
	errInvalidUTF8   = &PathError{Reason: "invalid UTF-8"}
	errDoubleEncoded = &PathError{Reason: "double-encoded character"}
)

// CanonicalPath takes a request's escaped path (r.URL.EscapedPath(), or the
// path of the raw request-target) and returns its single canonical escaped
// form, which is what the gateway forwards, and its decoded form, which is
// what Table.Match matches.
//
// It refuses, with an error wrapping ErrBadPath (a *PathError), any path:
// not starting with "/"; longer than MaxPathLength; with a dot segment "." or
// ".." (raw or percent-encoded); with an encoded slash (%2F); with a
// backslash (raw or %5C); with an empty segment ("//"); with a NUL, C0 or C1
// control character or DEL (raw or encoded); with ';' (raw or %3B, matrix
// parameters); with a segment ending in '.' or ' ' (raw or encoded, which
// some servers strip); with an invalid or truncated percent escape; that is
// not UTF-8 once decoded; or that is double-encoded so as to hide one of the
// above from the gateway ("%252e", "%252f", "%255c", "%2525", ...).
//
// A single trailing slash is allowed ("/v1/models/" differs from
// "/v1/models", as in net/http patterns); so is "/".
//
// The canonical form is a function of the decoded form alone: unreserved
// characters (ALPHA DIGIT - . _ ~), '/', the sub-delimiters other than ';'
// (! $ & ' ( ) * + , =), ':' and '@' are written literally, every other byte
// as %XX with upper-case hex. So "/v1/%6Dodels" becomes "/v1/models" and
// "/a%20b" stays "/a%20b". url.PathUnescape(canonical) == decoded, and
// setting URL.Path = decoded, URL.RawPath = canonical makes
// URL.EscapedPath() return canonical. CanonicalPath(canonical) returns
// canonical and decoded again. Case is preserved.
func CanonicalPath(escaped string) (canonical, decoded string, err error) {
	if len(escaped) > MaxPathLength {
		return "", "", errTooLong
	}
	if escaped == "" || escaped[0] != '/' {
		return "", "", errNotAbsolute
	}
	plain := true
	for i := 0; i < len(escaped); i++ {
		if c := escaped[i]; c == '%' || mustEscape(c) {
			plain = false
			break
		}
	}
	if plain {
		// The common case: nothing to decode or re-encode.
		if err := checkDecoded(escaped); err != nil {
			return "", "", err
		}
		if !utf8.ValidString(escaped) {
			return "", "", errInvalidUTF8
		}
		return escaped, escaped, nil
	}
	// Most paths fit the stack buffer, so that refusing one costs nothing.
	var stack [512]byte
	buf := stack[:0]
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			if i+2 >= len(escaped) {
				return "", "", errBadEscape
			}
			h, ok1 := unhex(escaped[i+1])
			l, ok2 := unhex(escaped[i+2])
			if !ok1 || !ok2 {
				return "", "", errBadEscape
			}
			c = h<<4 | l
			if c == '/' {
				return "", "", errEncodedSlash
			}
			i += 2
		}
		buf = append(buf, c)
	}
	if err := checkDecoded(buf); err != nil {
		return "", "", err
	}
	if !utf8.Valid(buf) {
		return "", "", errInvalidUTF8
	}
	decoded = string(buf)
	return escapePath(decoded, buf[:0]), decoded, nil
}

// checkDecoded enforces every rule that can be read off the decoded path
// but UTF-8 validity. d starts with '/'.
func checkDecoded[T string | []byte](d T) error {
	start := 1 // start of the current segment
	for i := 1; i <= len(d); i++ {
		if i == len(d) || d[i] == '/' {
			n := i - start
			switch {
			case n == 0:
				if i != len(d) {
					return errEmptySegment
				}
			case n <= 2 && d[start] == '.' && d[i-1] == '.':
				return errDotSegment // "." or ".."
			case d[i-1] == '.' || d[i-1] == ' ':
				return errTrailingDot
			}
			start = i + 1
			continue
		}
		switch c := d[i]; {
		case c < 0x20 || c == 0x7f:
			return errControl
		case c == '\\':
			return errBackslash
		case c == ';':
			return errSemicolon
		case c == 0xc2 && i+1 < len(d) && d[i+1] >= 0x80 && d[i+1] <= 0x9f:
			// U+0080..U+009F, the C1 controls.
			return errControl
		case c == '%' && i+2 < len(d):
			// A client writing "%252e" hopes some hop decodes twice.
			h, ok1 := unhex(d[i+1])
			l, ok2 := unhex(d[i+2])
			if ok1 && ok2 && hiddenByte(h<<4|l) {
				return errDoubleEncoded
			}
		}
	}
	return nil
}

// hiddenByte reports whether a second decoding producing b could change how
// the path is read.
func hiddenByte(b byte) bool {
	return b == '/' || b == '\\' || b == '.' || b == ';' || b == '%' || b < 0x20 || b >= 0x7f
}

// escapePath returns the canonical escaping of the decoded path d, using buf
// as scratch space.
func escapePath(d string, buf []byte) string {
	n := 0
	for i := 0; i < len(d); i++ {
		if mustEscape(d[i]) {
			n++
		}
	}
	if n == 0 {
		return d
	}
	const hex = "0123456789ABCDEF"
	buf = buf[:0]
	for i := 0; i < len(d); i++ {
		c := d[i]
		if mustEscape(c) {
			buf = append(buf, '%', hex[c>>4], hex[c&15])
		} else {
			buf = append(buf, c)
		}
	}
	return string(buf)
}

// mustEscape reports whether c is written as %XX in a canonical path.
func mustEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		'/',
		'!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', // sub-delims but ';'
		':', '@':
		return false
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
