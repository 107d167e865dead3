package token

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
		{"escaped duplicate", `{"exp":1,"\u0065xp":2}`, errDuplicate},
		{"duplicate", `{"a":1,"a":1}`, errDuplicate},
		{"nested duplicate", `{"a":{"b":1,"b":2}}`, errDuplicate},
		{"duplicate in array element", `{"a":[{"b":1,"b":2}]}`, errDuplicate},
		{"trailing comma", `{"a":1,}`, errBadJSON},
		{"array trailing comma", `{"a":[1,]}`, errBadJSON},
		{"leading comma", `{,"a":1}`, errBadJSON},
		{"missing colon", `{"a" 1}`, errBadJSON},
		{"unquoted name", `{a:1}`, errBadJSON},
		{"unterminated", `{"a":1`, errBadJSON},
		{"trailing object", `{}{}`, errTrailing},
		{"trailing garbage", `{} x`, errTrailing},
		{"array", `[]`, errNotObject},
		{"string", `"x"`, errNotObject},
		{"empty", ``, errBadJSON},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", errBadUTF8},
		{"too deep", `{"a":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`, errTooDeep},
		{"deep enough", `{"a":` + strings.Repeat("[", maxJSONDepth-2) + strings.Repeat("]", maxJSONDepth-2) + `}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeObject([]byte(tt.in))
			if !errors.Is(err, tt.want) || (tt.want == nil && m == nil) {
				t.Fatalf("decodeObject(%q) = %v, %v; want %v", tt.in, m, err, tt.want)
			}
		})
	}
	m, _ := decodeObject([]byte(`{"n":1.50,"e":[]}`))
	if n, ok := m["n"].(json.Number); !ok || n != "1.50" {
		t.Errorf("number = %#v; want json.Number(\"1.50\")", m["n"])
	}
	if a, ok := m["e"].([]any); !ok || a == nil {
		t.Errorf("empty array = %#v; want []any{}", m["e"])
	}
}
