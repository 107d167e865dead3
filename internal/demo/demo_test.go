package demo

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the demo's writer goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPrintedCommandsBehaveAsPrinted runs the demo, then pastes each
// printed curl command into bash, as a newcomer would, and checks the
// status line each one promises.
func TestPrintedCommandsBehaveAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	out, logs := &syncBuffer{}, &syncBuffer{}
	d, stop := startDemoWith(t, Options{Out: out, Log: logs})
	defer stop()
	if !d.Gateway.Ready() {
		t.Fatal("the demo printed its commands before the gateway was ready")
	}

	text := out.String()
	tokenLine := regexp.MustCompile(`(?m)^TOKEN=\S+$`).FindString(text)
	if tokenLine == "" {
		t.Fatalf("no TOKEN= line in:\n%s", text)
	}
	// Each numbered block: "# N. ..." followed by the command lines.
	blocks := regexp.MustCompile(`(?ms)^# (\d+)\. ([^\n]*)\n(.*?)\n\n`).FindAllStringSubmatch(text, -1)
	want := map[string]string{"1": "HTTP/1.1 200", "2": "HTTP/1.1 403", "3": "HTTP/1.1 200", "4": "HTTP/1.1 403", "5": "HTTP/1.1 401", "6": "HTTP/1.1 401",
		"7": "HTTP/1.1 200", "8": "HTTP/1.1 200", "9": "HTTP/1.1 200", "10": "HTTP/1.1 403", "11": "HTTP/1.1 201", "12": "200 "}
	if len(blocks) != len(want) {
		t.Fatalf("found %d numbered commands; want %d in:\n%s", len(blocks), len(want), text)
	}
	for _, b := range blocks {
		num, title, cmd := b[1], b[2], b[3]
		t.Run(num+" "+title, func(t *testing.T) {
			script := tokenLine + "\n" + strings.Replace(cmd, "curl ", "curl -s -S -i --max-time 20 ", 1)
			got, err := exec.Command("bash", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, got)
			}
			if !strings.HasPrefix(string(got), want[num]) {
				t.Errorf("got:\n%s\nwant a response starting %q", got, want[num])
			}
			if num == "1" && !strings.Contains(string(got), "data: [DONE]") {
				t.Errorf("the streaming chat completion did not end with data: [DONE]:\n%s", got)
			}
			if num == "2" && !strings.Contains(string(got), `scope="chat:completions model:gpt-4o"`) {
				t.Errorf("the gpt-4o refusal does not name model:gpt-4o:\n%s", got)
			}
			if num == "3" && (!strings.Contains(string(got), `"gpt-4o-mini"`) || strings.Contains(string(got), `"gpt-4o"`)) {
				t.Errorf("the model list is not filtered to gpt-4o-mini:\n%s", got)
			}
			if num == "6" && !strings.Contains(string(got), "resource_metadata=") {
				t.Errorf("the 401 challenge lacks resource_metadata:\n%s", got)
			}
			checkMCPBlock(t, num, string(got))
			if num == "11" && (!strings.Contains(string(got), "HTTP/1.1 401") || !strings.Contains(string(got), "has been revoked")) {
				t.Errorf("the call after the revocation was not refused as revoked:\n%s", got)
			}
			if num == "12" {
				codes, resp, _ := strings.Cut(string(got), "\n")
				if !strings.Contains(codes, "200 ") || !strings.HasSuffix(codes, "429 ") {
					t.Errorf("the loop's statuses %q; want some 200s, then 429s as the budget runs out", codes)
				}
				for _, s := range []string{"HTTP/1.1 429", `"type":"rate_limit_error"`, `"code":"budget_exceeded"`, "Retry-After: ", "Retry-After-Ms: "} {
					if !strings.Contains(resp, s) {
						t.Errorf("the refusal lacks %q:\n%s", s, resp)
					}
				}
			}
			if num == "5" && !strings.Contains(string(got), "invalid_token") {
				t.Errorf("the ID token was not refused as invalid_token:\n%s", got)
			}
		})
	}
	if strings.Contains(logs.String(), strings.TrimPrefix(tokenLine, "TOKEN=")) {
		t.Error("the demo's logs contain the access token")
	}
}
