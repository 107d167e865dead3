package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway"
)

// headerFlags collects repeated --header 'K: V' flags.
type headerFlags struct{ h http.Header }

func (f *headerFlags) String() string { return "" }

func (f *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("%q is not 'Name: value'", v)
	}
	f.h.Add(k, strings.TrimSpace(val))
	return nil
}

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path of the YAML config")
	tokenFile := fs.String("token-file", "", "file holding the access token (\"-\": standard input); it is never printed")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	keysTimeout := fs.Duration("keys-timeout", 10*time.Second, "how long to wait for the issuer's signing keys")
	headers := &headerFlags{h: http.Header{}}
	fs.Var(headers, "header", "a request header 'Name: value' (repeatable)")
	// Flags may come before or after METHOD and TARGET.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "usage: scopegate explain --config PATH METHOD TARGET [--token-file FILE] [--header 'K: V']... [--json]")
		return 2
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	req := gateway.ExplainRequest{Method: pos[0], Target: pos[1], Header: headers.h, KeysTimeout: *keysTimeout}
	if *tokenFile != "" {
		tok, err := readToken(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "scopegate explain: %v\n", err)
			return 1
		}
		req.Token = tok
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	e, err := gateway.Explain(ctx, cfg, req)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate explain: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(e)
	} else {
		e.WriteText(stdout)
	}
	if e.Decision == "allow" {
		return 0
	}
	return 3
}

// readToken reads a token file: surrounding white space and a "Bearer "
// prefix are removed.
func readToken(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return "", fmt.Errorf("the token file %s is empty", path)
	}
	return tok, nil
}
