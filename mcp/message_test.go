package mcp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBodyAccepts(t *testing.T) {
	tests := []struct {
		name, body        string
		kind              Kind
		method, tool, uri string
		id                string
	}{
		{"call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_web","arguments":{"q":"x"}}}`, Request, "tools/call", "search_web", "", "1"},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping"}`, Request, "ping", "", "", `"a-1"`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, Notification, "notifications/initialized", "", "", ""},
		{"response", `{"jsonrpc":"2.0","id":7,"result":{"action":"accept"}}`, Response, "", "", "", "7"},
		{"error response", `{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"no"}}`, Response, "", "", "", "7"},
		{"escaped name decoded", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"del\u0065te"}}`, Request, "tools/call", "delete", "", "1"},
		{"resource", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a/b"}}`, Request, "resources/read", "", "file:///a/b", "1"},
		{"odd but fine name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a.b/c-d_é"}}`, Request, "tools/call", "a.b/c-d_é", "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := ParseBody([]byte(tt.body), false)
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			m := ms[0]
			if m.Kind != tt.kind || m.Method != tt.method || m.Name != tt.tool || m.URI != tt.uri || string(m.ID) != tt.id {
				t.Errorf("got %+v; want kind %d method %q tool %q uri %q id %s", m, tt.kind, tt.method, tt.tool, tt.uri, tt.id)
			}
		})
	}
}

// TestParseBodyRefusesHostile covers the Bad input for the body:
// each row would let the gateway judge one thing while a server reads
// another, or cannot be judged at all.
func TestParseBodyRefusesHostile(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	tests := []struct {
		name, body string
		code       int
	}{
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"rm"}}`, CodeInvalidRequest},
		{"duplicate via escape", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","n\u0061me":"rm"}}`, CodeInvalidRequest},
		{"duplicate in arguments", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","arguments":{"p":"/tmp","p":"/etc"}}}`, CodeInvalidRequest},
		{"case variant method", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, CodeInvalidRequest},
		{"case variant name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","NAME":"rm"}}`, CodeInvalidParams},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"tools/call"}`, CodeParseError},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, CodeParseError},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xff\"}}", CodeParseError},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":` + deep + `}}`, CodeInvalidRequest},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}]`, CodeInvalidRequest},
		{"completion without ref", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"argument":{"name":"a","value":""}}}`, CodeInvalidParams},
		{"completion of an unknown ref type", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/tool","name":"rm"}}}`, CodeInvalidParams},
		{"completion ref case variant", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"ok","Name":"rm"}}}`, CodeInvalidParams},
		{"completion params case variant of ref", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"ok"},"REF":{}}}`, CodeInvalidParams},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, CodeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, CodeInvalidRequest},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":["tools/call"]}`, CodeInvalidRequest},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, CodeInvalidRequest},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, CodeInvalidRequest},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["rm"]}`, CodeInvalidParams},
		{"call without name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, CodeInvalidParams},
		{"call without params", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, CodeInvalidParams},
		{"name not string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, CodeInvalidParams},
		{"empty name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}`, CodeInvalidParams},
		{"name with space", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search x"}}`, CodeInvalidParams},
		{"name with quote", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\"b"}}`, CodeInvalidParams},
		{"name with NUL", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_\u0000rm"}}`, CodeInvalidParams},
		{"name with newline", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\nb"}}`, CodeInvalidParams},
		{"name too long", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + strings.Repeat("a", 129) + `"}}`, CodeInvalidParams},
		{"arguments array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}`, CodeInvalidParams},
		{"uri dot segment", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///public/../etc/passwd"}}`, CodeInvalidParams},
		{"uri encoded dot", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///public/%2e%2e/etc"}}`, CodeInvalidParams},
		{"read without uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{}}`, CodeInvalidParams},
		{"not an object", `"ping"`, CodeInvalidRequest},
		{"empty", ``, CodeParseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBody([]byte(tt.body), false)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseBody: %v; want a ProtocolError", err)
			}
			if pe.Code != tt.code {
				t.Errorf("code %d (%s); want %d", pe.Code, pe.Msg, tt.code)
			}
		})
	}
}

func TestParseBodyBatchAllowedReturnsEveryElement(t *testing.T) {
	body := `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}]`
	ms, err := ParseBody([]byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[1].Name != "rm" {
		t.Fatalf("got %+v; want both elements, the second calling rm", ms)
	}
	for _, b := range []string{`[]`, `[1]`, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a b"}}]`} {
		if _, err := ParseBody([]byte(b), true); err == nil {
			t.Errorf("ParseBody(%s) accepted; want refused", b)
		}
	}
}

func TestCheckHeaders(t *testing.T) {
	ms, _ := ParseBody([]byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_file"}}`), false)
	tests := []struct {
		name         string
		method, tool []string
		ok           bool
	}{
		{"absent", nil, nil, true},
		{"equal", []string{"tools/call"}, []string{"delete_file"}, true},
		{"method only", []string{"tools/call"}, nil, true},
		{"method differs", []string{"tools/list"}, nil, false},
		{"name differs", []string{"tools/call"}, []string{"search"}, false},
		{"name case differs", nil, []string{"Delete_file"}, false},
		{"twice", []string{"tools/call", "tools/call"}, nil, false},
		{"name in the Base64 sentinel form", nil, []string{"=?base64?ZGVsZXRlX2ZpbGU=?="}, true},
		{"sentinel of another name", nil, []string{"=?base64?c2VhcmNo?="}, false},
		{"sentinel that is not base64", nil, []string{"=?base64?not base64!?="}, false},
		{"sentinel without padding", nil, []string{"=?base64?ZGVsZXRlX2ZpbGU?="}, false},
		{"sentinel marker in another case", nil, []string{"=?BASE64?ZGVsZXRlX2ZpbGU=?="}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := CheckHeaders(tt.method, tt.tool, ms)
			if (pe == nil) != tt.ok {
				t.Fatalf("CheckHeaders = %v; want ok %v", pe, tt.ok)
			}
			if pe != nil && (pe.Code != CodeHeaderMismatch || string(pe.ID) != "3") {
				t.Errorf("got code %d id %s; want %d and the id", pe.Code, pe.ID, CodeHeaderMismatch)
			}
		})
	}
}

func TestDecodeArgumentsBounded(t *testing.T) {
	ms, _ := ParseBody([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"path":"/etc","n":2}}}`), false)
	args, ok := ms[0].DecodeArguments(100)
	if !ok || args["path"] != "/etc" {
		t.Fatalf("got %v %v; want path /etc", args, ok)
	}
	if _, ok := ms[0].DecodeArguments(5); ok {
		t.Error("arguments over the bound were decoded; want absent")
	}
}
