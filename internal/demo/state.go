package demo

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

// State is what a running demo leaves for `scopegate token`: enough to sign
// tokens its issuer's JWKS vouches for. It holds a private key, so it is
// written to a private directory (0700) as a private file (0600) and
// removed when the demo stops.
type State struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	ProxyURL string `json:"proxy_url"`
	KID      string `json:"kid"`
	Alg      string `json:"alg"`
	KeyPKCS8 []byte `json:"key_pkcs8"` // base64 in JSON
}

// ErrNoDemo means no demo state was found or its demo is not running.
var ErrNoDemo = errors.New("no scopegate demo is running (start one with `scopegate demo`)")

// stateFile is the name of the state file of the demo whose proxy is at
// proxyURL: each demo has its own, so that two demos (on other ports)
// coexist and neither removes the other's.
func stateFile(proxyURL string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(proxyURL, "http://"), "https://")
	name = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, name)
	return "demo-" + name + ".json"
}

// StateDir is where a demo of this user keeps its state:
// $XDG_RUNTIME_DIR/scopegate-demo when that is set (a per-user directory
// by the XDG spec), else $TMPDIR/scopegate-demo-<uid>.
func StateDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "scopegate-demo")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("scopegate-demo-%d", os.Getuid()))
}

// writeState saves st for `scopegate token` and returns a func that
// removes it again (unless a newer demo has replaced it meanwhile).
func writeState(st State) (remove func(), err error) {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo state: %w", err)
	}
	if err := checkPrivate(dir, true); err != nil {
		return nil, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".demo-*.json") // created 0600
	if err != nil {
		return nil, fmt.Errorf("demo state: %w", err)
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	path := filepath.Join(dir, stateFile(st.ProxyURL))
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("demo state: %w", werr)
	}
	return func() {
		if cur, err := readStateFile(path); err == nil && cur.KID == st.KID {
			os.Remove(path)
		}
	}, nil
}

// checkPrivate refuses a path others could read or write: the key in it
// must stay this user's.
func checkPrivate(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case dir && !fi.IsDir(), !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("demo state: %s is not a plain %s", path, map[bool]string{true: "directory", false: "file"}[dir])
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("demo state: %s is accessible to other users (mode %v); remove it", path, fi.Mode().Perm())
	}
	return nil
}

func readStateFile(path string) (*State, error) {
	if err := checkPrivate(path, false); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("demo state %s: %w", path, err)
	}
	return &st, nil
}

// ReadState loads the state of a running demo and checks with its issuer
// that the demo is alive and still publishes the key: the demo whose proxy
// is at proxyURL, or, with proxyURL "", the only one running (several
// running is an error that lists them). It returns an error wrapping
// ErrNoDemo when there is no state or no such demo.
func ReadState(ctx context.Context, proxyURL string) (*State, error) {
	if proxyURL != "" {
		return readLive(ctx, filepath.Join(StateDir(), stateFile(proxyURL)))
	}
	paths, _ := filepath.Glob(filepath.Join(StateDir(), "demo-*.json"))
	var live []*State
	var lastErr error
	for _, p := range paths {
		st, err := readLive(ctx, p)
		if err != nil {
			lastErr = err
			continue
		}
		live = append(live, st)
	}
	switch {
	case len(live) == 1:
		return live[0], nil
	case len(live) > 1:
		var urls []string
		for _, st := range live {
			urls = append(urls, st.ProxyURL)
		}
		return nil, fmt.Errorf("%d demos are running (%s): name one with --demo URL", len(live), strings.Join(urls, ", "))
	case lastErr != nil && !errors.Is(lastErr, ErrNoDemo):
		return nil, lastErr
	}
	return nil, ErrNoDemo
}

// readLive reads the state file at path and checks its demo is alive.
func readLive(ctx context.Context, path string) (*State, error) {
	st, err := readStateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDemo
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.Issuer+"/jwks.json", nil)
	if err != nil {
		return nil, fmt.Errorf("%w (bad state file %s: %v)", ErrNoDemo, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w (its issuer %s does not answer)", ErrNoDemo, st.Issuer)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"`+st.KID+`"`) {
		return nil, fmt.Errorf("%w (the issuer at %s is not that demo's)", ErrNoDemo, st.Issuer)
	}
	return st, nil
}

// TokenSpec describes a token for Mint.
type TokenSpec struct {
	Scopes   []string      // the scope claim; may be empty
	Subject  string        // default "demo-user"
	ClientID string        // default "demo-app"
	TTL      time.Duration // default 1h
	IDToken  bool          // mint an OpenID Connect ID token instead (refused by the gateway)
	// JKT, when set, binds the access token to a DPoP key: cnf.jkt, the
	// key's RFC 7638 thumbprint.
	JKT string
}

// Mint signs a token with the demo's key: an access token for the demo's
// audience, or, with IDToken, an ID token.
func (st *State) Mint(spec TokenSpec) (string, error) {
	priv, err := x509.ParsePKCS8PrivateKey(st.KeyPKCS8)
	if err != nil {
		return "", fmt.Errorf("demo state: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return "", errors.New("demo state: the key cannot sign")
	}
	iss, err := issuer.New(issuer.Options{Algorithm: st.Alg, Key: signer, KID: st.KID})
	if err != nil {
		return "", err
	}
	iss.SetURL(st.Issuer)
	if spec.Subject == "" {
		spec.Subject = "demo-user"
	}
	if spec.ClientID == "" {
		spec.ClientID = "demo-app"
	}
	if spec.IDToken {
		return iss.IDToken(spec.Subject, spec.ClientID), nil
	}
	if spec.TTL <= 0 {
		spec.TTL = time.Hour
	}
	var extra map[string]any
	if spec.JKT != "" {
		extra = map[string]any{"cnf": map[string]any{"jkt": spec.JKT}}
	}
	return iss.AccessToken(issuer.AccessTokenSpec{
		Subject: spec.Subject, ClientID: spec.ClientID, Audience: []string{st.Audience},
		Scopes: spec.Scopes, TTL: spec.TTL, Extra: extra,
	}), nil
}

// saveState writes the state of d for `scopegate token`.
func saveState(d *Demo) (remove func(), err error) {
	kid, alg, priv := d.Issuer.CurrentKey()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return writeState(State{Issuer: d.Issuer.URL(), Audience: Audience, ProxyURL: d.ProxyURL, KID: kid, Alg: alg, KeyPKCS8: der})
}
