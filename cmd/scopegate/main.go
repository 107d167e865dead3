// Command scopegate is a reverse proxy that lets a request through to a
// model API only when it carries a valid OAuth 2.0 access token with the
// scopes its route requires.
//
//	scopegate serve  --config PATH
//	scopegate check  --config PATH
//	scopegate explain --config PATH METHOD TARGET [--token-file FILE] [--header 'K: V']...
//	scopegate demo
//	scopegate token --scope "..."
//	scopegate revoke jti|sub|client|token VALUE | list | lift ID
//	scopegate version
//
// A hidden command serves a mock OpenAI-compatible model API (and
// optionally a test issuer) for local trials such as deploy/compose; it is
// no production component:
//
//	scopegate mockapi --listen ADDR [--issuer-listen ADDR --issuer-url URL --audience AUD --scopes "a b"]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway"
	"github.com/scopegate/scopegate/internal/demo"
)

// Set by the linker: -X main.version=... -X main.commit=...
var (
	version = "dev"
	commit  = "none"
)

const usage = `scopegate: an OAuth 2.0 scope-checking reverse proxy for model APIs

Usage:
  scopegate serve   --config PATH   run the gateway (default PATH: ./config.yaml)
  scopegate check   --config PATH   validate the config and print the compiled route table
  scopegate explain --config PATH METHOD TARGET [--token-file FILE] [--header 'K: V']... [--json] [--keys-timeout 10s]
                                    say which route a request matches, what it requires and, given
                                    a token, the decision and its reason; no upstream is contacted
                                    (exit 0: allowed, 3: refused or would be, 1: cannot explain)
  scopegate demo                    run a local issuer, a mock model API and the gateway
  scopegate token   --scope "..."   mint a token for the running demo (--sub, --client, --ttl, --id-token,
                                    --dpop: bound to a DPoP key, with a request to paste)
  scopegate dpop-proof --key FILE --method M --url URL [--token T]
                                    print a DPoP proof (RFC 9449) for one request
  scopegate revoke  jti|sub|client|token VALUE, list, lift ID
                                    revoke through a running gateway's admin API ($SCOPEGATE_ADMIN_TOKEN)
  scopegate version                 print version, commit and Go version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "dpop-proof":
		return cmdDPoPProof(args[1:], stdout, stderr)
	case "revoke":
		return cmdRevoke(args[1:], os.Stdin, stdout, stderr)
	case "mockapi": // hidden: for local trials (deploy/compose)
		return cmdMockAPI(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "scopegate %s (commit %s, %s)\n", version, commit, runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "scopegate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path of the YAML config")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scopegate %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", false
	}
	return *path, true
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n\n", path)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	printRoutes(stdout, cfg)
	return 0
}

func newLogger(w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), zap.InfoLevel)
	return zap.New(core)
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("serve", args, stderr)
	if !ok {
		return 2
	}
	if applyGCDefault(os.Getenv) > 0 {
		startGCTuner() // the default's headroom, bounded for a large live heap
	}
	// The operational log and the audit records (audit.output: stdout, the
	// default) share stdout: one lock keeps their lines whole.
	out := &lockedWriter{w: stdout}
	logger := newLogger(out)
	defer func() { _ = logger.Sync() }()
	cfg, err := config.LoadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		logger.Error("config invalid", zap.String("path", path), zap.Error(err))
		return 1
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("config", zap.String("path", path), zap.String("warning", w))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	reg := prometheus.NewRegistry()
	if err := gateway.RegisterRuntime(reg); err != nil {
		logger.Error("metrics", zap.Error(err))
		return 1
	}
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: logger, Registerer: reg, Stdout: out, Stderr: stderr,
		Version: version, Commit: commit})
	if err != nil {
		logger.Error("starting", zap.Error(err))
		return 1
	}
	// Key fetching and the revocation sync stop before serve returns, on a
	// listener error too: nothing writes to the logs after it.
	defer gw.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(gw, path, logger)
			}
		}
	}()
	if err := gw.Run(ctx, nil); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("serving", zap.Error(err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

func reload(gw *gateway.Gateway, path string, logger *zap.Logger) {
	if err := gw.ReloadFile(path); err != nil {
		logger.Error("config reload failed; the running config stays", zap.String("path", path), zap.Error(err))
		return
	}
	logger.Info("config reloaded", zap.String("path", path))
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "proxy listener")
	admin := fs.String("admin", "127.0.0.1:9090", "admin listener")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := demo.Run(ctx, demo.Options{Listen: *listen, AdminListen: *admin, Out: stdout, Log: stderr}); err != nil {
		var le *gateway.ListenError
		if errors.As(err, &le) && errors.Is(err, syscall.EADDRINUSE) {
			flag := map[string]string{"server.listen": "--listen", "server.admin_listen": "--admin"}[le.Key]
			fmt.Fprintf(stderr, "scopegate demo: %s is in use (another demo, or another program): run `scopegate demo %s 127.0.0.1:PORT` with a free port\n", le.Addr, flag)
			return 1
		}
		fmt.Fprintf(stderr, "scopegate demo: %v\n", err)
		return 1
	}
	return 0
}

// lockedWriter serializes writes, so that lines of several loggers never
// interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func cmdMockAPI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mockapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demo.MockOptions
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8000", "mock model API listener")
	fs.StringVar(&o.IssuerListen, "issuer-listen", "", "also serve a test OIDC issuer here (default: none)")
	fs.StringVar(&o.IssuerURL, "issuer-url", "", "the issuer's URL as the gateway reaches it (default: http://ISSUER-LISTEN)")
	fs.StringVar(&o.Audience, "audience", "https://models.scopegate.demo", "audience of the printed token")
	scopes := fs.String("scopes", "models:read chat:completions embeddings:create", "scopes of the printed token")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Scopes, o.Out = strings.Fields(*scopes), stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := demo.RunMock(ctx, o); err != nil {
		fmt.Fprintf(stderr, "scopegate mockapi: %v\n", err)
		return 1
	}
	return 0
}
