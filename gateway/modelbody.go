package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// bufferModelBody reads the whole request body (at most limit bytes),
// returns the string member "model" of the JSON object it holds, and puts
// the same bytes back as the body to forward, with an exact Content-Length.
// On a refusal it returns the reason and the error to answer; the body is
// then not forwarded.
//
// The model the gateway judges must be the model the upstream reads, so
// the body is read strictly: one JSON object of valid UTF-8, no trailing
// data, exactly one member named "model" (a duplicate is refused, as is a
// member whose name differs from "model" only in case, which
// case-insensitive decoders such as Go's encoding/json would read as the
// model), and its value a string.
func bufferModelBody(r *http.Request, limit int64) (string, Reason, *apiError) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") || len(r.Header.Values("Content-Encoding")) > 1 {
		e := errUnsupportedEncoding()
		return "", ReasonBadBody, &e
	}
	if r.ContentLength > limit {
		e := errBodyTooLarge(limit)
		return "", ReasonBodyTooLarge, &e
	}
	if r.Body == nil || r.Body == http.NoBody {
		e := errBadBody("this route needs a JSON request body naming a model")
		return "", ReasonBadBody, &e
	}
	if msg := checkJSONMediaType(r.Header.Values("Content-Type")); msg != "" {
		e := errUnsupportedMediaType(msg)
		return "", ReasonUnsupportedMediaType, &e
	}
	orig := r.Body
	b, err := io.ReadAll(io.LimitReader(orig, limit+1))
	// On a refusal the body is put back as it came, read part first: a
	// shadow route forwards what it would refuse.
	restore := func() { r.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig} }
	if err != nil {
		restore()
		e := errBadBody("the request body could not be read")
		return "", ReasonBadBody, &e
	}
	if int64(len(b)) > limit {
		restore()
		e := errBodyTooLarge(limit)
		return "", ReasonBodyTooLarge, &e
	}
	_ = orig.Close()
	model, msg := modelFromJSON(b)
	if msg != "" {
		r.Body = io.NopCloser(bytes.NewReader(b))
		e := errBadBody(msg)
		return "", ReasonBadBody, &e
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	if len(b) == 0 {
		r.Body = http.NoBody
	}
	return model, "", nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// modelFromJSON returns the model named by the JSON object b, or why it
// names none. b is validated whole by json.Valid first; the top-level
// members are then walked without decoding the values (a chat body is
// mostly message text), which is several times faster than a token-by-
// token decoder.
func modelFromJSON(b []byte) (model, problem string) {
	if !utf8.Valid(b) {
		return "", "the request body is not valid UTF-8 JSON"
	}
	if !json.Valid(b) {
		return "", "the request body is not valid JSON"
	}
	i := jsonwalk.SkipSpace(b, 0)
	if b[i] != '{' {
		return "", "the request body is not a JSON object"
	}
	i++
	found := false
	for {
		i = jsonwalk.SkipSpace(b, i)
		switch b[i] {
		case '}':
			if !found {
				return "", `the request body has no "model" member: name the model to use`
			}
			if model == "" {
				return "", `the request body's "model" is empty`
			}
			return model, ""
		case ',':
			i = jsonwalk.SkipSpace(b, i+1)
		}
		end := jsonwalk.StringEnd(b, i)
		key := jsonwalk.String(b[i:end])
		i = jsonwalk.SkipSpace(b, end) + 1 // the colon
		i = jsonwalk.SkipSpace(b, i)
		vend := jsonwalk.ValueEnd(b, i)
		switch {
		case key == "model":
			if found {
				return "", `the request body has more than one "model" member`
			}
			found = true
			if b[i] != '"' {
				return "", `the request body's "model" must be a string`
			}
			model = jsonwalk.String(b[i:vend])
		case strings.EqualFold(key, "model"):
			return "", `the request body has a member ` + strconv.Quote(key) + ` that some servers read as "model": send the model as "model" only`
		}
		i = vend
	}
}
