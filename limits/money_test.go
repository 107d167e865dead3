package limits

import (
	"math"
	"testing"
)

func TestParseMoney(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5", 5_000_000, true},
		{"5.00", 5_000_000, true},
		{"0.1", 100_000, true},
		{"0.000001", 1, true},
		{"1234.567891", 1_234_567_891, true},
		{"0", 0, true},
		{"0.0000001", 0, false}, // finer than a micro-unit: never rounded
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1,5", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"99999999999999999999", 0, false},
		{"9007199255", 0, false}, // past 2^53 micro-units
		{"9007199254.740993", 0, false},
		{"9007199254.740992", 1 << 53, true},
	} {
		got, err := ParseMoney(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	// Exact: ten dimes are a unit, as floats would not make them.
	dime, _ := ParseMoney("0.1")
	one, _ := ParseMoney("1")
	if 10*dime != one {
		t.Errorf("10 × 0.1 = %d micro-units; want %d", 10*dime, one)
	}
}

func TestFormatMoney(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 5_000_000: "5.00", 1500: "0.0015", 1: "0.000001", 1_234_567_891: "1234.567891", -750: "-0.00075"} {
		if got := FormatMoney(in); got != want {
			t.Errorf("FormatMoney(%d) = %q; want %q", in, got, want)
		}
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{Input: 2_500_000, Output: 10_000_000} // 2.50 and 10.00 per million tokens
	for _, tt := range []struct {
		in, out, want int64
	}{
		{100, 50, 750}, // 100×2.5 + 50×10 micro-units
		{1_000_000, 0, 2_500_000},
		{1, 0, 3}, // 2.5 rounds up: at most one micro-unit per request
		{0, 0, 0},
		{math.MaxInt32, math.MaxInt32, 26_843_545_588}, // no overflow in the product
	} {
		got, err := p.Cost(tt.in, tt.out)
		if err != nil || got != tt.want {
			t.Errorf("Cost(%d, %d) = %d, %v; want %d", tt.in, tt.out, got, err, tt.want)
		}
	}
	if _, err := p.Cost(-1, 0); err == nil {
		t.Error("a negative count was priced")
	}
	huge := Price{Input: math.MaxInt64}
	if _, err := huge.Cost(math.MaxInt64, 0); err == nil {
		t.Error("a cost past 2^53 micro-units was accepted")
	}
}

// FuzzParseMoney: any string either fails or reads to an amount that
// FormatMoney writes back to the same amount; never a panic, never a
// negative amount or one past MaxAmount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"5.00", "0.000001", "9007199254.740992", "1e3", "-1", "", ".", "00012.340", "1.0000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		if err != nil {
			return
		}
		if m < 0 || m > MaxAmount {
			t.Fatalf("ParseMoney(%q) = %d: out of range", s, m)
		}
		back, err := ParseMoney(FormatMoney(m))
		if err != nil || back != m {
			t.Fatalf("ParseMoney(FormatMoney(%d)) = %d, %v", m, back, err)
		}
	})
}
