package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     error // nil = accepted
	}{
		{"object", `{"a":1,"b":[1,"x",{"c":null}],"d":true}`, nil},
		{"surrounding space", " \n{\"a\":1}\t ", nil},
		{"escaped distinct names", `{"a":1,"\u0062":2}`, nil},
		{"escaped duplicate", `{"exp":1,"\u0065xp":2}`, ErrDuplicate},
		{"duplicate", `{"a":1,"a":1}`, ErrDuplicate},
		{"nested duplicate", `{"a":{"b":1,"b":2}}`, ErrDuplicate},
		{"duplicate in array element", `{"a":[{"b":1,"b":2}]}`, ErrDuplicate},
		{"trailing comma", `{"a":1,}`, ErrBadJSON},
		{"array trailing comma", `{"a":[1,]}`, ErrBadJSON},
		{"leading comma", `{,"a":1}`, ErrBadJSON},
		{"missing colon", `{"a" 1}`, ErrBadJSON},
		{"unquoted name", `{a:1}`, ErrBadJSON},
		{"unterminated", `{"a":1`, ErrBadJSON},
		{"trailing object", `{}{}`, ErrTrailing},
		{"trailing garbage", `{} x`, ErrTrailing},
		{"array", `[]`, ErrNotObject},
		{"string", `"x"`, ErrNotObject},
		{"empty", ``, ErrBadJSON},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ErrBadUTF8},
		{"too deep", `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`, ErrTooDeep},
		{"deep enough", `{"a":` + strings.Repeat("[", MaxDepth-2) + strings.Repeat("]", MaxDepth-2) + `}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeObject([]byte(tt.in))
			if !errors.Is(err, tt.want) || (tt.want == nil && m == nil) {
				t.Fatalf("DecodeObject(%q) = %v, %v; want %v", tt.in, m, err, tt.want)
			}
		})
	}
	m, _ := DecodeObject([]byte(`{"n":1.50,"e":[]}`))
	if n, ok := m["n"].(json.Number); !ok || n != "1.50" {
		t.Errorf("number = %#v; want json.Number(\"1.50\")", m["n"])
	}
	if a, ok := m["e"].([]any); !ok || a == nil {
		t.Errorf("empty array = %#v; want []any{}", m["e"])
	}
}
