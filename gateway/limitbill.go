package gateway

import (
	"encoding/json"
	"io"
	"math"
	"net/http"

	"github.com/scopegate/scopegate/limits"
)

// usageEstimate is what a request is expected to use, read once from its
// body and shared by the route's budgets: input, a quarter of the body's
// bytes; output, its max_tokens (or max_completion_tokens, the larger).
// -1: unknown (the body was not read, or names no sensible maximum).
type usageEstimate struct {
	input, output int64
}

// estimateUsage reads the request's estimate. The upstream's real usage
// replaces it afterwards, so it need only be an upper bound that a
// hostile body cannot lower: a body naming no or a nonsensical maximum
// (negative, fractional, absurd) has an unknown output.
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
	if err != nil {
		return unknown
	}
	var v struct {
		MaxTokens           *float64 `json:"max_tokens"`
		MaxCompletionTokens *float64 `json:"max_completion_tokens"`
	}
	if json.Unmarshal(b, &v) != nil {
		return unknown
	}
	est := usageEstimate{input: int64(len(b) / 4), output: -1}
	out := v.MaxCompletionTokens
	if v.MaxTokens != nil && (out == nil || *v.MaxTokens > *out) {
		out = v.MaxTokens
	}
	if out != nil && *out >= 1 && *out <= math.MaxInt32 && *out == math.Trunc(*out) {
		est.output = int64(*out)
	}
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
