package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const revokeUsage = `Usage:
  scopegate revoke [flags] jti ID          refuse the token with this jti (until --exp, default revocation.jti_ttl)
  scopegate revoke [flags] sub SUBJECT     refuse every token of SUBJECT issued before --before (default now)
  scopegate revoke [flags] client CLIENT   refuse every token of CLIENT issued before --before (default now)
  scopegate revoke [flags] token TOKEN|-   refuse this token (its jti, until its exp); - reads it from stdin
  scopegate revoke [flags] list            list the entries
  scopegate revoke [flags] lift ID         lift the entry ID (as listed)

The admin API's bearer token is read from $SCOPEGATE_ADMIN_TOKEN (never a
flag: it would show in the process list).

Flags:
`

// cmdRevoke calls the admin API of a running gateway.
func cmdRevoke(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, revokeUsage); fs.PrintDefaults() }
	admin := fs.String("admin", "http://127.0.0.1:9090", "the gateway's admin listener (URL or host:port)")
	by := fs.String("by", os.Getenv("USER"), "who revokes, kept with the entry and audited")
	reason := fs.String("reason", "", "why, kept with the entry")
	iss := fs.String("iss", "", "limit the entry to tokens of this issuer (default: any issuer)")
	exp := fs.String("exp", "", "RFC 3339 time at which the entry is dropped (jti default: revocation.jti_ttl; sub, client: never)")
	before := fs.String("before", "", "RFC 3339 time: sub and client tokens issued before it are refused (default: now)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the gateway")
	// Flags may come before and after the positional arguments.
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
	adminToken := os.Getenv("SCOPEGATE_ADMIN_TOKEN")
	if adminToken == "" {
		fmt.Fprintln(stderr, "scopegate revoke: set SCOPEGATE_ADMIN_TOKEN to the gateway's admin.token")
		return 2
	}
	base := strings.TrimRight(*admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base += "/v1/revocations"
	if len(pos) == 0 {
		fs.Usage()
		return 2
	}
	method, target, body := "POST", base, map[string]any{}
	switch {
	case pos[0] == "list" && len(pos) == 1:
		method = "GET"
	case pos[0] == "lift" && len(pos) == 2:
		method, target = "DELETE", base+"/"+url.PathEscape(pos[1])
	case len(pos) == 2:
		key := map[string]string{"jti": "jti", "sub": "sub", "client": "client_id", "client_id": "client_id", "token": "token"}[pos[0]]
		if key == "" {
			fs.Usage()
			return 2
		}
		v := pos[1]
		if key == "token" && v == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
			if err != nil {
				fmt.Fprintf(stderr, "scopegate revoke: reading the token: %v\n", err)
				return 1
			}
			v = strings.TrimSpace(string(b))
		}
		body[key] = v
		for k, s := range map[string]string{"by": *by, "reason": *reason, "iss": *iss, "expires_at": *exp, "not_before": *before} {
			if s != "" {
				body[k] = s
			}
		}
	default:
		fs.Usage()
		return 2
	}
	return callAdmin(method, target, body, adminToken, *timeout, pos, stdout, stderr)
}

// callAdmin sends one request to the admin API and prints its answer:
// the JSON pretty-printed, "lifted ID" for a 204, the error's message
// otherwise. It returns the exit code.
func callAdmin(method, target string, body map[string]any, adminToken string, timeout time.Duration, pos []string, stdout, stderr io.Writer) int {
	var rd io.Reader
	if method == "POST" {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate revoke: %v\n", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate revoke: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(out))
		if json.Unmarshal(out, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		fmt.Fprintf(stderr, "scopegate revoke: %s: %s\n", resp.Status, msg)
		return 1
	}
	if resp.StatusCode == http.StatusNoContent {
		fmt.Fprintf(stdout, "lifted %s\n", pos[1])
		return 0
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = append(pretty.Bytes(), '\n')
	}
	_, _ = stdout.Write(out)
	return 0
}
