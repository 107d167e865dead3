package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"go.uber.org/zap"
)

// Run serves the proxy and admin listeners until ctx is done, then stops
// accepting, lets in-flight requests (streams included) finish within the
// drain timeout, and returns nil. ready, if not nil, is called with the
// bound addresses once both listen.
func (g *Gateway) Run(ctx context.Context, ready func(proxyAddr, adminAddr net.Addr)) error {
	cfg := g.Config()
	pl, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return &ListenError{Key: "server.listen", Addr: cfg.Server.Listen, Err: err}
	}
	al, err := net.Listen("tcp", cfg.Server.AdminListen)
	if err != nil {
		pl.Close()
		return &ListenError{Key: "server.admin_listen", Addr: cfg.Server.AdminListen, Err: err}
	}
	return g.Serve(ctx, pl, al, ready)
}

// ListenError is a listener that could not be opened; Key is the config
// key that sets its address, so that the message says what to change.
type ListenError struct {
	Key, Addr string
	Err       error
}

func (e *ListenError) Error() string {
	hint := ""
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		hint = ": another process listens there; stop it, or set " + e.Key + " to a free address"
	}
	return fmt.Sprintf("%s %s: %v%s", e.Key, e.Addr, e.Err, hint)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Serve is Run on listeners the caller made.
func (g *Gateway) Serve(ctx context.Context, pl, al net.Listener, ready func(proxyAddr, adminAddr net.Addr)) error {
	cfg := g.Config()
	tlsCfg, err := serverTLS(cfg.Server.TLS)
	if err != nil {
		pl.Close()
		al.Close()
		return fmt.Errorf("proxy listener tls: %w", err)
	}
	errLog := zap.NewStdLog(g.logger.Named("http"))
	proxySrv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		// net/http's own cap answers 431 in plain text, unaudited: it sits
		// at twice the configured size, and the handler answers requests
		// between the two with the JSON error (headersTooLarge).
		MaxHeaderBytes: 2 * cfg.Server.MaxHeaderBytes,
		ErrorLog:       errLog,
		// "OPTIONS *" would otherwise be answered 200 by net/http itself,
		// unaudited; the handler refuses it like any non-origin-form target.
		DisableGeneralOptionsHandler: true,
		BaseContext:                  func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		TLSConfig:                    tlsCfg,
	}
	// HTTP/1.1 only, over TLS too: the request-target rules and the hostile
	// request tests are written for it.
	proxySrv.Protocols = new(http.Protocols)
	proxySrv.Protocols.SetHTTP1(true)
	adminSrv := &http.Server{
		Handler:           g.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		// Admin requests carry no body and admin answers are small: the
		// whole request and the whole answer are bounded (a scraper that
		// stops reading is cut).
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  60 * time.Second,
		ErrorLog:     errLog,
	}
	errc := make(chan error, 2)
	go func() {
		if tlsCfg != nil {
			errc <- proxySrv.ServeTLS(pl, "", "")
			return
		}
		errc <- proxySrv.Serve(pl)
	}()
	go func() { errc <- adminSrv.Serve(al) }()
	g.logger.Info("listening", zap.String("proxy", pl.Addr().String()), zap.String("admin", al.Addr().String()))
	if ready != nil {
		ready(pl.Addr(), al.Addr())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.draining.Store(true)
	drain := g.Config().Server.DrainTimeout.D()
	g.logger.Info("draining", zap.Duration("timeout", drain))
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := proxySrv.Shutdown(dctx); err != nil {
		g.logger.Warn("drain timeout: closing remaining connections", zap.Error(err))
		proxySrv.Close()
	}
	adminSrv.Close()
	g.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

func (rt *runtime) verifierStatus() []token.IssuerStatus {
	if rt.verifier == nil {
		return nil
	}
	return rt.verifier.Status()
}
