package gateway

import (
	"strings"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// maxUsageKey bounds the top-level member name topUsage keeps: longer
// names are not "usage".
const maxUsageKey = 32

// topUsage finds the top-level "usage" member of a JSON object as it
// passes, in constant memory, for an answer too large to keep whole
// (maxUsageBody): it tracks strings, escapes and nesting, keeps the raw
// value of the last top-level member whose name matches "usage" as
// encoding/json matches it (any letter case, the last copy winning, as
// usageOf reads a kept body), and notes whether the text is one complete
// object with nothing after it. It is a tokenizer, not a validator: it is
// trusted only for the structure an upstream's encoder produces.
type topUsage struct {
	depth     int
	inStr     bool
	esc       bool
	expectKey bool // at depth 1, the next string is a member name
	inKey     bool
	key       []byte
	keyOver   bool
	isUsage   bool // the member name just read was usage
	capturing bool
	val       []byte
	valOver   bool
	found     []byte // the value of the last usage member
	done      bool   // the top-level value has ended
	bad       bool   // not one object, or something after it
}

func (t *topUsage) feed(b []byte) {
	for _, c := range b {
		if t.bad {
			return
		}
		if t.done {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				t.bad = true
			}
			continue
		}
		if t.capturing && !t.inStr && t.depth == 1 && (c == ',' || c == '}') {
			t.endValue()
		}
		if t.capturing {
			if len(t.val) < maxUsageLine {
				t.val = append(t.val, c)
			} else {
				t.valOver = true
			}
		}
		if t.inStr {
			switch {
			case t.esc:
				t.esc = false
			case c == '\\':
				t.esc = true
			case c == '"':
				t.inStr = false
				if t.inKey {
					t.inKey = false
					t.isUsage = !t.keyOver && strings.EqualFold(jsonwalk.String(append(append([]byte{'"'}, t.key...), '"')), "usage")
				}
				continue
			}
			if t.inKey {
				if len(t.key) < maxUsageKey {
					t.key = append(t.key, c)
				} else {
					t.keyOver = true
				}
			}
			continue
		}
		switch c {
		case '"':
			t.inStr = true
			if t.depth == 1 && t.expectKey {
				t.inKey, t.expectKey, t.key, t.keyOver = true, false, t.key[:0], false
			}
		case '{', '[':
			if t.depth == 0 && c == '[' {
				t.bad = true
			}
			t.depth++
			if t.depth == 1 {
				t.expectKey = true
			}
		case '}', ']':
			t.depth--
			if t.depth == 0 {
				t.done = true
			}
		case ',':
			if t.depth == 1 {
				t.expectKey = true
			}
		case ':':
			if t.depth == 1 && t.isUsage {
				t.isUsage, t.capturing, t.val, t.valOver = false, true, t.val[:0], false
			}
		default:
			if t.depth == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				t.bad = true
			}
		}
	}
}

// endValue ends the capture of a usage member's value.
func (t *topUsage) endValue() {
	t.capturing = false
	if t.valOver {
		t.found = nil
		return
	}
	t.found = append(t.found[:0], t.val...)
}

// usage is what the object reported, read as usageOf reads a kept body.
func (t *topUsage) usage() (usage, bool) {
	if t.bad || !t.done || t.found == nil {
		return usage{}, false
	}
	b := make([]byte, 0, len(t.found)+10)
	b = append(append(append(b, `{"usage":`...), t.found...), '}')
	return usageOf(b)
}
