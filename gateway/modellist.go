package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxModelListBytes caps the upstream model list the gateway holds to
// filter it.
const maxModelListBytes = 16 << 20

// errModelList marks a model list the gateway cannot filter: the response
// is replaced by a 502, never passed on unfiltered.
var errModelList = errors.New("model list cannot be filtered")

// readListing reads the body of an upstream listing the gateway filters
// (a model list, an MCP listing): unencoded, at most max bytes. Its
// errors wrap kind, which the error handler answers with 502: a listing
// the gateway cannot read is never relayed unfiltered.
func readListing(resp *http.Response, max int, kind error) ([]byte, error) {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("%w: Content-Encoding %q", kind, ce)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: reading: %w", kind, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: larger than %d bytes", kind, max)
	}
	return b, nil
}

// filterModelList is the upstream proxies' ModifyResponse. On a list route
// (st.listRoute set) it keeps, of a 200 response's
// {"object":"list","data":[{"id":...},...]}, the entries whose id the
// token may use, and fixes Content-Length. Error responses (4xx, 5xx) pass
// unchanged: they list no models. Anything else, an encoded body included,
// fails closed with errModelList, which the error handler turns into 502.
func filterModelList(resp *http.Response) error {
	st := stateOf(resp.Request.Context())
	route := st.listRoute
	if route == nil || resp.StatusCode >= 400 {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", errModelList, resp.StatusCode)
	}
	if resp.Request.Method == http.MethodHead {
		// No body to leak; its length would be the unfiltered one.
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		return nil
	}
	// The client parses the list by its media type: one the gateway does
	// not read as UTF-8 JSON could show it entries the filter never saw.
	if msg := checkJSONMediaType(resp.Header.Values("Content-Type")); msg != "" {
		return fmt.Errorf("%w: %s", errModelList, msg)
	}
	b, err := readListing(resp, maxModelListBytes, errModelList)
	if err != nil {
		return err
	}
	var scopes []string
	if st.claims != nil {
		scopes = st.claims.Scopes
	}
	out, err := filterListJSON(b, func(id string) bool { return route.ListAllows(id, scopes) })
	if err != nil {
		return fmt.Errorf("%w: %w", errModelList, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Etag") // the representation changed
	resp.TransferEncoding = nil
	return nil
}

// filterListJSON keeps the entries of an OpenAI list whose id keep
// accepts. Every other member, of the list and of the entries kept, is
// kept as sent (members are re-emitted in sorted order).
func filterListJSON(b []byte, keep func(id string) bool) ([]byte, error) {
	var list map[string]json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, errors.New("not a JSON object")
	}
	var object string
	if err := json.Unmarshal(list["object"], &object); err != nil || object != "list" {
		return nil, errors.New(`"object" is not "list"`)
	}
	var data []json.RawMessage
	if err := json.Unmarshal(list["data"], &data); err != nil || data == nil {
		return nil, errors.New(`"data" is not an array`)
	}
	kept := make([]json.RawMessage, 0, len(data))
	for i, e := range data {
		// A model entry is an object with a string member named exactly
		// "id" (a struct field would also take "ID" or "Id").
		var members map[string]json.RawMessage
		if err := json.Unmarshal(e, &members); err != nil {
			return nil, fmt.Errorf("data[%d] is not an object", i)
		}
		var id *string
		if err := json.Unmarshal(members["id"], &id); err != nil || id == nil {
			return nil, fmt.Errorf("data[%d] has no string id", i)
		}
		if keep(*id) {
			kept = append(kept, e)
		}
	}
	nd, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	list["data"] = nd
	return json.Marshal(list)
}
