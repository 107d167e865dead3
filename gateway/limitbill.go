package gateway

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/scopegate/scopegate/internal/jsonwalk"
	"github.com/scopegate/scopegate/limits"
)

// usageEstimate is what a request is expected to use, read once from its
// body and shared by the route's budgets: input, a quarter of the body's
// bytes; output, its max_tokens (or max_completion_tokens, the larger)
// times the completions it asks for (n, or best_of, the larger).
// -1: unknown (the body was not read, or names no sensible maximum).
type usageEstimate struct {
	input, output int64
}

// estimateMembers are the members the estimate reads: each must be
// spelled exactly, once, for the estimate to be known.
var estimateMembers = [...]string{"max_tokens", "max_completion_tokens", "n", "best_of"}

// estimateUsage reads the request's estimate. The upstream's real usage
// replaces it afterwards, but a response without usage (a stream whose
// client turned include_usage off) is billed it, so it must be an upper
// bound that a hostile body cannot lower: a body naming no or a
// nonsensical maximum or count (negative, fractional, absurd), or naming
// one ambiguously (twice, or in a letter case that case-insensitive
// decoders such as encoding/json read as it), has an unknown output.
func estimateUsage(r *http.Request, buffered bool) usageEstimate {
	unknown := usageEstimate{-1, -1}
	if !buffered || r.GetBody == nil {
		return unknown
	}
	rc, err := r.GetBody()
	if err != nil {
		return unknown
	}
	b, err := io.ReadAll(rc)
	if err != nil || !json.Valid(b) {
		return unknown
	}
	i := jsonwalk.SkipSpace(b, 0)
	if b[i] != '{' {
		return unknown
	}
	var vals [len(estimateMembers)][]byte
	for _, m := range jsonMembers(b, i) {
		for k, name := range estimateMembers {
			switch {
			case m.key == name && vals[k] == nil:
				vals[k] = b[m.start:m.end]
			case strings.EqualFold(m.key, name):
				return unknown // a second copy, or a case variant
			}
		}
	}
	est := usageEstimate{input: int64(len(b) / 4), output: -1}
	// count reads a whole number in [1, MaxInt32]; 0 when absent, -1 when
	// anything else.
	count := func(v []byte) int64 {
		if v == nil {
			return 0
		}
		var f float64
		if v[0] == '"' || json.Unmarshal(v, &f) != nil || f < 1 || f > math.MaxInt32 || f != math.Trunc(f) {
			return -1
		}
		return int64(f)
	}
	maxTok, maxCompl, n, bestOf := count(vals[0]), count(vals[1]), count(vals[2]), count(vals[3])
	out := max(maxTok, maxCompl)
	if maxTok < 0 || maxCompl < 0 || out == 0 || n < 0 || bestOf < 0 {
		return est
	}
	est.output = min(out*max(n, bestOf, 1), math.MaxInt32)
	return est
}

// reserve is what the request reserves under l: its estimate (tokens, or
// their cost at price), at most l.MaxReserve; l.MaxReserve when the
// estimate is unknown.
func (e usageEstimate) reserve(l *limits.Limit, price limits.Price) int64 {
	if e.input < 0 || e.output < 0 {
		return l.MaxReserve
	}
	if l.Prices == nil {
		return min(e.input+e.output, l.MaxReserve)
	}
	c, err := price.Cost(e.input, e.output)
	if err != nil {
		return l.MaxReserve
	}
	return min(c, l.MaxReserve)
}
