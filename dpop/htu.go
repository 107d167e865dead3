package dpop

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// NormalizeURI puts an http(s) URI in the form htu values are compared in
// (RFC 9449 section 4.3, with RFC 3986 section 6.2.2 and 6.2.3
// normalization): scheme and host lower-cased, the scheme's default port
// removed, an empty path made "/", percent-escapes of unreserved characters
// decoded and the others upper-cased; the query and fragment dropped, as
// section 4.3 says they are ignored. A URI with user info, no host, or
// another scheme is refused. The path is otherwise kept byte for byte: a
// trailing slash, a dot segment or a case difference makes another URI.
func NormalizeURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URI")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", errors.New("not an http(s) URI")
	}
	if u.User != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("not an absolute http(s) URI with a host and no user info")
	}
	host, port := u.Hostname(), u.Port()
	host = strings.ToLower(host)
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]" // IPv6
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	p, ok := normalizeEscapes(p)
	if !ok {
		return "", errors.New("the URI's path has a malformed percent-escape")
	}
	return scheme + "://" + host + p, nil
}

// normalizeEscapes decodes the percent-escapes of unreserved characters and
// upper-cases the hex digits of the others (RFC 3986 section 6.2.2.1-2).
func normalizeEscapes(p string) (string, bool) {
	if !strings.Contains(p, "%") {
		return p, true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", false
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
