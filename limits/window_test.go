package limits

import (
	"context"
	"testing"
	"time"
)

func TestCalendarBounds(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		per, tz    string
		at         time.Time
		start, end time.Time
	}{
		{"UTC day", "day", "", time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
		// 23:30 UTC is already the next day in Berlin.
		{"Berlin day", "day", "Europe/Berlin", time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 12, 5, 0, 0, 0, 0, berlin), time.Date(2026, 12, 6, 0, 0, 0, 0, berlin)},
		// The day clocks go forward has 23 hours.
		{"DST day", "day", "Europe/Berlin", time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Date(2026, 3, 29, 0, 0, 0, 0, berlin).Add(23 * time.Hour)},
		// 2026-12-04 is a Friday; ISO weeks start on Monday.
		{"week", "week", "", time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{"week on a Sunday", "week", "", time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{"February", "month", "", time.Date(2028, 2, 29, 23, 59, 0, 0, time.UTC),
			time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"December", "month", "Europe/Berlin", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC),
			time.Date(2027, 1, 1, 0, 0, 0, 0, berlin), time.Date(2027, 2, 1, 0, 0, 0, 0, berlin)},
		{"fixed 24h is the UTC day", "24h", "", time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseWindow(tt.per, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			s, e := b.Bounds(tt.at)
			if !s.Equal(tt.start) || !e.Equal(tt.end) {
				t.Errorf("Bounds(%v) = [%v, %v); want [%v, %v)", tt.at, s, e, tt.start, tt.end)
			}
		})
	}
}

// TestMemoryCalendarBudget: the in-memory store counts a calendar month
// in its time zone from the injected clock, and starts afresh with the
// next month whatever its length.
func TestMemoryCalendarBudget(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	b, err := ParseWindow("month", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	b.Amount = 10
	// 2027-01-01 03:00 UTC is still December 31 in New York.
	at := time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC)
	if res, _ := s.Reserve(ctx, "k", b, 10, false, at); !res.Allowed || res.Reset != 2*time.Hour {
		t.Fatalf("reserve: %+v; want allowed, reset in 2h (New York midnight)", res)
	}
	if res, _ := s.Reserve(ctx, "k", b, 1, false, at.Add(time.Hour)); res.Allowed {
		t.Fatal("the December budget refilled before New York's month ended")
	}
	if res, _ := s.Reserve(ctx, "k", b, 10, false, at.Add(2*time.Hour)); !res.Allowed {
		t.Fatalf("January in New York: %+v; want a fresh budget", res)
	}
}
