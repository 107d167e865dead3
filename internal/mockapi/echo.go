package mockapi

import (
	"net/http"
)

// echoResponse describes a request; it is the body of /v1/echo and of every
// path the API does not otherwise serve.
type echoResponse struct {
	Object        string      `json:"object"` // "echo"
	Method        string      `json:"method"`
	Path          string      `json:"path"`
	RawPath       string      `json:"raw_path"`
	RawQuery      string      `json:"raw_query"`
	Proto         string      `json:"proto"`
	Host          string      `json:"host"`
	Headers       http.Header `json:"headers"`
	ContentLength int64       `json:"content_length"`
	BodyLength    int64       `json:"body_length"`
	BodySHA256    string      `json:"body_sha256"`
}

func echo(w http.ResponseWriter, _ *http.Request, rec Recorded) {
	writeJSON(w, http.StatusOK, echoResponse{
		Object:        "echo",
		Method:        rec.Method,
		Path:          rec.Path,
		RawPath:       rec.RawPath,
		RawQuery:      rec.RawQuery,
		Proto:         rec.Proto,
		Host:          rec.Host,
		Headers:       rec.Header,
		ContentLength: rec.ContentLength,
		BodyLength:    rec.BodyLen,
		BodySHA256:    rec.BodySHA256,
	})
}
