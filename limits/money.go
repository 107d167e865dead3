package limits

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Micro is the unit cost budgets count in: one millionth of the
// configured currency unit. Amounts are integers, never floats, so that a
// budget of "5.00" is exactly 5_000_000 and a thousand requests of
// "0.001" add up to exactly "1.00".
const Micro = 1_000_000

// MaxAmount is the largest count a budget may hold (tokens, or micro-units
// of money): 2^53, the largest integer a Redis Lua number holds exactly.
const MaxAmount = 1 << 53

// ParseMoney reads a non-negative decimal amount ("5", "5.00",
// "0.000150") into micro-units. More than six decimal places, a sign, an
// exponent or anything past MaxAmount micro-units is an error: a price or
// a budget is never rounded silently.
func ParseMoney(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") {
		return 0, fmt.Errorf("%q is not a decimal amount (e.g. 5.00)", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimal places (a micro-unit)", s)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("%q is not a decimal amount (digits and one dot, e.g. 5.00)", s)
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > MaxAmount/Micro {
		return 0, fmt.Errorf("%q is too large", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	if w*Micro+f > MaxAmount {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return w*Micro + f, nil
}

// FormatMoney writes micro-units as a decimal with at least two and at
// most six decimal places: 5000000 is "5.00", 1500 is "0.0015".
func FormatMoney(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	frac := fmt.Sprintf("%06d", m%Micro)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatInt(m/Micro, 10) + "." + frac
}

// Price is what a model costs, in micro-units per million tokens.
type Price struct {
	Input, Output int64
}

// Prices is a cost budget's price table: by exact model name, and Default
// (the "*" entry) for any other model; nil Default: a model not in the
// table cannot be priced, and its requests are refused.
type Prices struct {
	Models  map[string]Price
	Default *Price
}

// Of returns the price of model and whether it has one.
func (p *Prices) Of(model string) (Price, bool) {
	if pr, ok := p.Models[model]; ok {
		return pr, true
	}
	if p.Default != nil {
		return *p.Default, true
	}
	return Price{}, false
}

// errCostOverflow: a cost past MaxAmount, which no budget can hold.
var errCostOverflow = errors.New("cost out of range")

// Cost returns the cost, in micro-units, of input and output tokens at
// price: (input × price.Input + output × price.Output) / 10^6, rounded up
// to the next micro-unit (at most one micro-unit per request, in the
// budget's favour). The products are computed in 128 bits, so no token
// count or price overflows silently; a cost past MaxAmount is an error.
func (pr Price) Cost(input, output int64) (int64, error) {
	if input < 0 || output < 0 {
		return 0, errors.New("negative token count")
	}
	hi1, lo1 := bits.Mul64(uint64(input), uint64(pr.Input))
	hi2, lo2 := bits.Mul64(uint64(output), uint64(pr.Output))
	lo, carry := bits.Add64(lo1, lo2, 0)
	hi, _ := bits.Add64(hi1, hi2, carry)
	if hi >= Micro {
		return 0, errCostOverflow // the quotient would not fit in 64 bits
	}
	q, r := bits.Div64(hi, lo, Micro)
	if r > 0 {
		q++
	}
	if q > MaxAmount || q > math.MaxInt64 {
		return 0, errCostOverflow
	}
	return int64(q), nil
}
