package gateway

import "net/http"

// explainWriter is the response writer of a dry run (Explain): it keeps
// the status the handler chose and discards the body. (It stands in for
// httptest.ResponseRecorder, which has no place in a production binary.)
type explainWriter struct {
	header      http.Header
	code        int
	wroteHeader bool
}

var _ http.Flusher = (*explainWriter)(nil)

func newExplainWriter() *explainWriter {
	return &explainWriter{header: http.Header{}, code: http.StatusOK}
}

func (w *explainWriter) Header() http.Header { return w.header }

func (w *explainWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.code, w.wroteHeader = code, true
	}
}

func (w *explainWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return len(b), nil
}

// Flush does nothing: there is no client. It is there so that the
// handler's streaming path runs as it would on a server.
func (w *explainWriter) Flush() { w.wroteHeader = true }
