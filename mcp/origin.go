package mcp

import (
	"net/url"
	"strings"
)

// OriginAllowed reports whether a request's Origin header values are
// acceptable: none at all (a client that is not a browser), or exactly
// one naming an origin of the route's allowed_origins. The Streamable HTTP
// transport has servers validate Origin against DNS rebinding (a page of
// another site reaching the endpoint through a name that resolves to it)
// and answer 403 to one that is present and invalid; "null", an opaque
// origin, is never valid.
func (t *Table) OriginAllowed(values []string) bool {
	switch len(values) {
	case 0:
		return true
	case 1:
		n, ok := normalizeOrigin(values[0])
		return ok && t.origins[n]
	}
	return false
}

// normalizeOrigin puts an RFC 6454 serialized origin in the form origins
// are compared in: scheme and host lower-cased, the scheme's default port
// dropped. Anything but http(s)://host[:port] (a path, a query, user
// info, "null") is not an origin.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", false
	}
	if u.Path != "" && u.Path != "/" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}
