package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

func listRoute(t *testing.T) *policy.Route {
	t.Helper()
	tb, err := policy.Compile([]policy.RouteConfig{{
		Name: "models", Path: "/v1/models", Upstream: "m", Scopes: []string{},
		Models: &policy.ModelsConfig{List: true, Rules: []policy.ModelRule{{Model: "gpt-4o-mini", Scopes: []string{}}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tb.Routes()[0]
}

func listResponse(t *testing.T, status int, body string, hdr ...string) *http.Response {
	t.Helper()
	st := &reqState{listRoute: listRoute(t), claims: &token.Claims{}}
	req, _ := http.NewRequestWithContext(context.WithValue(context.Background(), stateKey{}, st), "GET", "http://x/v1/models", nil)
	resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req, ContentLength: int64(len(body))}
	for i := 0; i+1 < len(hdr); i += 2 {
		resp.Header.Set(hdr[i], hdr[i+1])
	}
	return resp
}

func TestFilterModelList(t *testing.T) {
	const list = `{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"gpt-4o-mini","object":"model","owned_by":"x"}],"extra":1}`
	tests := []struct {
		name   string
		status int
		body   string
		hdr    []string
		want   string // filtered body; "" = errModelList
	}{
		{"filtered", 200, list, nil, `{"data":[{"id":"gpt-4o-mini","object":"model","owned_by":"x"}],"extra":1,"object":"list"}`},
		{"identity encoding", 200, list, []string{"Content-Encoding", "identity"}, `{"data":[{"id":"gpt-4o-mini","object":"model","owned_by":"x"}],"extra":1,"object":"list"}`},
		{"empty list", 200, `{"object":"list","data":[]}`, nil, `{"data":[],"object":"list"}`},
		{"error passes", 500, `{"error":{"message":"down"}}`, nil, `{"error":{"message":"down"}}`},
		{"gzip refused", 200, "\x1f\x8b\x08...", []string{"Content-Encoding", "gzip"}, ""},
		{"not JSON", 200, `<html>`, nil, ""},
		{"not a list", 200, `{"object":"model","id":"gpt-4o"}`, nil, ""},
		{"data not array", 200, `{"object":"list","data":{"id":"gpt-4o"}}`, nil, ""},
		{"data null", 200, `{"object":"list","data":null}`, nil, ""},
		{"entry without id", 200, `{"object":"list","data":[{"ID":"gpt-4o-mini"}]}`, nil, ""},
		{"entry id not string", 200, `{"object":"list","data":[{"id":5}]}`, nil, ""},
		{"entry not object", 200, `{"object":"list","data":["gpt-4o-mini"]}`, nil, ""},
		{"partial content", 206, list, nil, ""},
		{"truncated", 200, list[:40], nil, ""},
		{"text/plain list", 200, list, []string{"Content-Type", "text/plain"}, ""},
		{"utf-16 list", 200, list, []string{"Content-Type", "application/json; charset=utf-16"}, ""},
		{"html list", 200, list, []string{"Content-Type", "text/html; charset=utf-8"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := listResponse(t, tt.status, tt.body, tt.hdr...)
			err := filterModelList(resp)
			if tt.want == "" {
				if !errors.Is(err, errModelList) {
					t.Fatalf("err = %v; want errModelList", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.want {
				t.Errorf("body %s; want %s", b, tt.want)
			}
			if tt.status == 200 && (resp.ContentLength != int64(len(b)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(b))) {
				t.Errorf("Content-Length %d / %q; body has %d bytes", resp.ContentLength, resp.Header.Get("Content-Length"), len(b))
			}
		})
	}
}

func TestModelFromJSON(t *testing.T) {
	tests := []struct{ name, body, model string }{
		{"plain", `{"model":"gpt-4o"}`, "gpt-4o"},
		{"escaped", `{"mod\u0065l":"gpt\u002d4o"}`, "gpt-4o"},
		{"after nested", `{"messages":[{"model":"x"}],"model":"m","tools":{"model":"y"}}`, "m"},
		{"whitespace", " \n{ \"model\" : \"m\" }\n ", "m"},
		{"missing", `{"messages":[]}`, ""},
		{"duplicate", `{"model":"a","model":"a"}`, ""},
		{"fold", `{"Model":"a"}`, ""},
		{"fold after", `{"model":"a","mOdEl":"b"}`, ""},
		{"number", `{"model":1}`, ""},
		{"object", `{"model":{"id":"a"}}`, ""},
		{"two objects", `{"model":"a"}{}`, ""},
		{"unclosed", `{"model":"a"`, ""},
		{"bad value later", `{"model":"a","x":tru}`, ""},
		{"invalid utf8", "{\"model\":\"a\xc3\"}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, problem := modelFromJSON([]byte(tt.body))
			if m != tt.model || (tt.model == "") != (problem != "") {
				t.Errorf("modelFromJSON(%q) = %q, %q; want %q", tt.body, m, problem, tt.model)
			}
		})
	}
}
