package token

import "github.com/scopegate/scopegate/internal/strictjson"

// maxJSONDepth bounds nesting in headers, payloads and JWKs.
const maxJSONDepth = strictjson.MaxDepth

// The decoder's sentinels, under the names this package's code uses.
var (
	errNotObject = strictjson.ErrNotObject
	errDuplicate = strictjson.ErrDuplicate
	errBadJSON   = strictjson.ErrBadJSON
	errTooDeep   = strictjson.ErrTooDeep
	errBadUTF8   = strictjson.ErrBadUTF8
	errTrailing  = strictjson.ErrTrailing
)

// decodeObject parses data as exactly one JSON object, strictly (see
// package strictjson, shared with the DPoP proof verifier).
func decodeObject(data []byte) (map[string]any, error) { return strictjson.DecodeObject(data) }
