package testkit

import (
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// TestPipeClientInBubble: a handler that takes an hour answers after
// exactly an hour of the bubble's clock, at once in real time, over
// keep-alive connections, and nothing is left running afterwards
// (synctest.Test fails if a goroutine of the bubble remains).
func TestPipeClientInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := PipeClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Hour)
			io.WriteString(w, "late")
		}))
		for range 2 {
			start := time.Now()
			resp, err := c.Get("http://anything.test/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "late" || time.Since(start) != time.Hour {
				t.Fatalf("got %q after %v; want late after 1h", b, time.Since(start))
			}
		}
	})
}
