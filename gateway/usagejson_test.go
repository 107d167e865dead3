package gateway

import "testing"

// TestTopUsageAgreesWithUsageOf: the streaming reader of large answers
// reads the same usage as usageOf reads of a body kept whole, fed in
// pieces of every size.
func TestTopUsageAgreesWithUsageOf(t *testing.T) {
	for _, body := range []string{
		`{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		`{"a":[{"usage":{"total_tokens":9}}],"usage":{"total_tokens":4}}`,
		`{"usage":{"total_tokens":4},"usage":{"total_tokens":5}}`,
		`{"usage":{"total_tokens":4},"USAGE":{"total_tokens":6}}`,
		`{"us\u0061ge":{"total_tokens":7}}`,
		`{"usage":null}`,
		`{"usage":{"total_tokens":"7"}}`,
		`{"x":"\"usage\":{\"total_tokens\":1}","y":"\\","usage" : { "total_tokens" : 8 } }`,
		`{"a":{"usage":{"total_tokens":9}}}`,
		` {"usage":{"total_tokens":10}} `,
		`{}`,
	} {
		want, wantOK := usageOf([]byte(body))
		for step := 1; step <= len(body); step++ {
			var tu topUsage
			for i := 0; i < len(body); i += step {
				tu.feed([]byte(body[i:min(i+step, len(body))]))
			}
			if got, ok := tu.usage(); got != want || ok != wantOK {
				t.Errorf("%s in pieces of %d: %+v %v; usageOf reads %+v %v", body, step, got, ok, want, wantOK)
				break
			}
		}
	}
	for _, body := range []string{`{"usage":{"total_tokens":1}`, `{"usage":{"total_tokens":1}}x`, `[{"usage":{"total_tokens":1}}]`} {
		var tu topUsage
		tu.feed([]byte(body))
		if _, ok := tu.usage(); ok {
			t.Errorf("%s: read a usage; want none (not one complete object)", body)
		}
	}
}

// TestStreamUsageAfterUsageString: an event whose text has the string
// "usage" before its usage member (a model or tool named so) is still
// billed its usage.
func TestStreamUsageAfterUsageString(t *testing.T) {
	for _, ev := range []string{
		`data: {"model":"usage","choices":[],"usage":{"total_tokens":12}}`,
		`data: {"choices":[{"delta":{"tool_calls":[{"function":{"name":"usage"}}]}}],"usage":{"total_tokens":12}}`,
	} {
		u := newUsageScanner(nil, true)
		u.feed([]byte(ev + "\n\n"))
		if got, ok := u.total(); !ok || got.total != 12 {
			t.Errorf("%s: usage %+v %v; want 12", ev, got, ok)
		}
	}
}
