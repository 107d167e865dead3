package limits

import (
	"fmt"
	"time"

	// Time zones come with the binary: a config naming Europe/Berlin
	// must mean the same on a host (or distroless image) without tzdata.
	_ "time/tzdata"
)

// Calendar windows.
const (
	CalendarDay   = "day"
	CalendarWeek  = "week" // ISO weeks: Monday 00:00 to Monday 00:00
	CalendarMonth = "month"
)

// Budget is an amount (of LLM tokens, or micro-units of money) per
// window. A window is either fixed, of length Per, aligned to the Unix
// epoch (24h is the UTC day), or a calendar day, week or month in Loc
// (Calendar set, Per zero), whose length varies (DST days of 23 or 25
// hours, months of 28 to 31 days).
type Budget struct {
	Amount   int64         // > 0, at most MaxAmount
	Per      time.Duration // fixed windows; 0 with Calendar
	Calendar string        // CalendarDay, CalendarWeek or CalendarMonth; "" with Per
	Loc      *time.Location
}

// ParseWindow reads a budget's per: a Go duration (fixed windows aligned
// to the epoch) or day, week or month in the time zone tz (an IANA name;
// "" is UTC, and is the only choice for fixed windows).
func ParseWindow(per, tz string) (Budget, error) {
	switch per {
	case CalendarDay, CalendarWeek, CalendarMonth:
		loc := time.UTC
		if tz != "" {
			l, err := time.LoadLocation(tz)
			if err != nil {
				return Budget{}, fmt.Errorf("time_zone %q: %w", tz, err)
			}
			loc = l
		}
		return Budget{Calendar: per, Loc: loc}, nil
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Budget{}, fmt.Errorf("per %q is neither day, week, month nor a positive duration (e.g. 24h)", per)
	}
	if d%time.Microsecond != 0 {
		return Budget{}, fmt.Errorf("per %q is finer than a microsecond", per)
	}
	if tz != "" {
		return Budget{}, fmt.Errorf("time_zone applies to per: day, week or month; fixed windows (%s) are aligned to UTC", per)
	}
	return Budget{Per: d}, nil
}

// Bounds returns the window holding t: [start, end).
func (b Budget) Bounds(t time.Time) (start, end time.Time) {
	if b.Calendar == "" {
		ns := t.UnixNano()
		start = time.Unix(0, ns-ns%int64(b.Per))
		return start, start.Add(b.Per)
	}
	lt := t.In(b.Loc)
	y, m, d := lt.Date()
	switch b.Calendar {
	case CalendarDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, b.Loc)
		end = time.Date(y, m, d+1, 0, 0, 0, 0, b.Loc)
	case CalendarWeek:
		back := (int(lt.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, b.Loc)
		end = time.Date(y, m, d-back+7, 0, 0, 0, 0, b.Loc)
	default:
		start = time.Date(y, m, 1, 0, 0, 0, 0, b.Loc)
		end = time.Date(y, m+1, 1, 0, 0, 0, 0, b.Loc)
	}
	return start, end
}

// End returns the end of the window that starts at start (as a
// BudgetResult's Window).
func (b Budget) End(start time.Time) time.Time {
	if b.Calendar == "" {
		return start.Add(b.Per)
	}
	_, end := b.Bounds(start)
	return end
}

// String is the window as `scopegate explain` prints it.
func (b Budget) String() string {
	if b.Calendar == "" {
		return b.Per.String() + " window"
	}
	return "calendar " + b.Calendar + " (" + b.Loc.String() + ")"
}

// candidates returns the boundaries of the windows around now (the one
// before, the one holding now, and the next): a shared store whose clock
// differs from now by less than a window picks the window holding its
// own time among them, so that calendar windows too follow the store's
// clock and not the replica's.
func (b Budget) candidates(now time.Time) [4]time.Time {
	s, e := b.Bounds(now)
	prev, _ := b.Bounds(s.Add(-time.Nanosecond))
	_, next := b.Bounds(e)
	return [4]time.Time{prev, s, e, next}
}
