package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
)

// MockOptions configures RunMock.
type MockOptions struct {
	// Listen is the mock model API's address. Required.
	Listen string
	// IssuerListen, when set, also serves a local OpenID Connect issuer
	// there (discovery and JWKS), whose public URL is IssuerURL.
	IssuerListen string
	// IssuerURL is the issuer's URL as the gateway reaches it (its iss),
	// e.g. "http://mock:8001" in Docker Compose. Default: "http://" +
	// IssuerListen.
	IssuerURL string
	// Audience and Scopes are those of the access token printed at start.
	Audience string
	Scopes   []string
	// Out receives the printed token. Default: io.Discard.
	Out io.Writer
}

// RunMock serves the mock OpenAI-compatible model API (and, if asked, a
// local issuer) until ctx is done: the backend of `scopegate mockapi`, for
// local trials such as deploy/compose. It is no production component: the
// issuer prints a ready-made access token valid for 12 hours.
func RunMock(ctx context.Context, opts MockOptions) error {
	if opts.Listen == "" {
		return errors.New("mockapi: --listen is required")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	var srvs []*http.Server
	var lns []net.Listener
	defer func() {
		for _, s := range srvs {
			s.Close()
		}
	}()
	apiLn, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("mockapi: %w", err)
	}
	srvs = append(srvs, &http.Server{Handler: mockapi.New(mockapi.Options{}).Handler(), ReadHeaderTimeout: 5 * time.Second})
	lns = append(lns, apiLn)
	fmt.Fprintf(opts.Out, "mock model API on %s\n", apiLn.Addr())
	if opts.IssuerListen != "" {
		iss, err := issuer.New(issuer.Options{})
		if err != nil {
			return err
		}
		issLn, err := net.Listen("tcp", opts.IssuerListen)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("mockapi issuer: %w", err)
		}
		u := opts.IssuerURL
		if u == "" {
			u = "http://" + issLn.Addr().String()
		}
		iss.SetURL(strings.TrimSuffix(u, "/"))
		srvs = append(srvs, &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second})
		lns = append(lns, issLn)
		tok := iss.AccessToken(issuer.AccessTokenSpec{Subject: "trial-user", ClientID: "trial-app",
			Audience: []string{opts.Audience}, Scopes: opts.Scopes, TTL: 12 * time.Hour})
		fmt.Fprintf(opts.Out, "test issuer %s on %s\naccess token (scopes %q, audience %q, 12h):\nTOKEN=%s\n",
			iss.URL(), issLn.Addr(), strings.Join(opts.Scopes, " "), opts.Audience, tok)
	}
	errc := make(chan error, len(srvs))
	for i, s := range srvs {
		go func() { errc <- s.Serve(lns[i]) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
