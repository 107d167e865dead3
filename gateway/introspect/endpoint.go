package introspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/strictjson"
)

// discoveryRetry is the least time between two discovery attempts after a
// failure: a down authorization server is not asked on every request.
const discoveryRetry = 5 * time.Second

// endpoint is one issuer's introspection endpoint.
type endpoint struct {
	opts   IssuerOptions // defaults applied
	client *http.Client
	sign   *signer // nil unless private_key_jwt
	sem    chan struct{}
	now    func() time.Time

	mu           sync.Mutex
	url          string    // configured or discovered; "" until discovered
	failedDiscov time.Time // last failed discovery
}

func newEndpoint(is IssuerOptions, client *http.Client, now func() time.Time) (*endpoint, error) {
	is = is.withDefaults()
	e := &endpoint{opts: is, client: client, sem: make(chan struct{}, is.MaxConcurrency), now: now, url: is.Endpoint}
	if is.Auth.method() == AuthPrivateKeyJWT {
		key, method, err := loadSigner(is.Auth.KeyFile, is.Auth.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("issuer %s: private_key_jwt: %w", is.Issuer, err)
		}
		e.sign = &signer{key: key, method: method, kid: is.Auth.KeyID, clientID: is.Auth.ClientID, audience: is.Issuer}
	}
	return e, nil
}

// unavailable wraps ErrUnavailable with why.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

// call asks the endpoint about raw. It returns the response's members
// and body when the token is active, a *token.Error (ReasonInactive) when
// it is not, or an error wrapping ErrUnavailable. ctx bounds the wait for
// a slot and the call.
func (e *endpoint) call(ctx context.Context, raw string) (map[string]any, []byte, error) {
	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		return nil, nil, unavailable("no free slot within the timeout (max_concurrency %d)", e.opts.MaxConcurrency)
	}
	target, err := e.endpointURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return nil, nil, unavailable("building the request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	a := e.opts.Auth
	switch a.method() {
	case AuthClientSecretBasic:
		// RFC 6749 section 2.3.1: each part form-encoded first.
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret))
	case AuthClientSecretPost:
		form.Set("client_id", a.ClientID)
		form.Set("client_secret", a.ClientSecret)
	case AuthPrivateKeyJWT:
		assertion, err := e.sign.assertion(e.now())
		if err != nil {
			return nil, nil, unavailable("%v", err)
		}
		form.Set("client_id", a.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := e.client.Do(req)
	if err != nil {
		// A *url.Error names the endpoint, never the form body.
		return nil, nil, unavailable("%v", err)
	}
	defer resp.Body.Close()
	b, err := readCapped(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// 3xx: redirects are not followed (the token must not travel
		// further). 401/403: the gateway's own credentials are refused,
		// which says nothing about the token.
		return nil, nil, unavailable("status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, nil, unavailable("content type %q is not application/json", resp.Header.Get("Content-Type"))
	}
	m, err := strictjson.DecodeObject(b)
	if err != nil {
		return nil, nil, unavailable("response: %v", err)
	}
	active, ok := m["active"].(bool)
	if !ok {
		return nil, nil, unavailable("response has no boolean active member")
	}
	if !active {
		return nil, nil, &token.Error{Reason: ReasonInactive, Detail: "the access token is not active"}
	}
	return m, b, nil
}

// readCapped reads a body of at most MaxResponseBytes.
func readCapped(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return nil, unavailable("reading the response: %v", err)
	}
	if len(b) > MaxResponseBytes {
		return nil, unavailable("response larger than %d bytes", MaxResponseBytes)
	}
	return b, nil
}

// endpointURL is the configured endpoint, or the one discovered from the
// issuer's metadata; a failed discovery is retried at most every
// discoveryRetry.
func (e *endpoint) endpointURL(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.url != "" {
		return e.url, nil
	}
	if !e.failedDiscov.IsZero() && e.now().Sub(e.failedDiscov) < discoveryRetry {
		return "", unavailable("discovery of the introspection endpoint failed recently")
	}
	u, err := e.discover(ctx)
	if err != nil {
		e.failedDiscov = e.now()
		return "", err
	}
	e.url = u
	return u, nil
}

// discover reads introspection_endpoint from the issuer's metadata (OpenID
// Connect discovery, then RFC 8414), whose issuer must equal ours.
func (e *endpoint) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(e.opts.Issuer, "/")
	var errs []error
	for _, suffix := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		u, err := e.fetchMetadata(ctx, base+suffix)
		if err == nil {
			return u, nil
		}
		errs = append(errs, err)
	}
	return "", unavailable("discovering the introspection endpoint: %v", errors.Join(errs...))
}

func (e *endpoint) fetchMetadata(ctx context.Context, at string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := readCapped(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", at, resp.StatusCode)
	}
	m, err := strictjson.DecodeObject(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", at, err)
	}
	if iss, _ := m["issuer"].(string); iss != e.opts.Issuer {
		return "", fmt.Errorf("%s: the metadata names another issuer", at)
	}
	u, _ := m["introspection_endpoint"].(string)
	if u == "" {
		return "", fmt.Errorf("%s: no introspection_endpoint", at)
	}
	if err := token.CheckURL(u, e.opts.AllowInsecureHTTP); err != nil {
		return "", fmt.Errorf("%s: introspection_endpoint: %w", at, err)
	}
	return u, nil
}
