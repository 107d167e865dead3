package token

import "github.com/scopegate/scopegate/internal/strictjson"

// errDuplicate is the decoder's duplicate-member error, which Verify tells
// apart (a duplicate claim is a bad claim, not a malformed token).
var errDuplicate = strictjson.ErrDuplicate

// decodeObject parses data as exactly one JSON object, strictly (see
// package strictjson, shared with the DPoP proof verifier).
func decodeObject(data []byte) (map[string]any, error) { return strictjson.DecodeObject(data) }
