package gateway

import "net/http"

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway is
// not a tracer. It forwards a valid traceparent (and its tracestate)
// untouched, writes its trace-id in the audit record, and drops an
// invalid one together with its tracestate, so that the upstream starts a
// new trace rather than joining one built from bytes nobody vouched for.

// traceIDOf returns the trace-id of the request's traceparent header, or
// "" when there is none or it is invalid (several traceparent headers are
// invalid too).
func traceIDOf(h http.Header) string {
	vals := h["Traceparent"]
	if len(vals) != 1 {
		return ""
	}
	return parseTraceparent(vals[0])
}

// parseTraceparent validates a traceparent value and returns its trace-id,
// or "" if it is invalid. Version 00 is exactly
// 2HEXDIGLC "-" 32HEXDIGLC "-" 16HEXDIGLC "-" 2HEXDIGLC, with a trace-id
// and parent-id that are not all zeros. Version ff is invalid. A later
// version is read by the version 00 rules over its first 55 characters,
// which must be the whole value or be followed by "-" (section 4.3 of the
// recommendation).
func parseTraceparent(v string) string {
	const size = 55
	if len(v) < size || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return ""
	}
	version, traceID, parentID, flags := v[0:2], v[3:35], v[36:52], v[53:55]
	if !lowerHex(version) || !lowerHex(traceID) || !lowerHex(parentID) || !lowerHex(flags) {
		return ""
	}
	switch {
	case version == "ff":
		return ""
	case version == "00" && len(v) != size:
		return ""
	case len(v) > size && v[size] != '-':
		return ""
	}
	if allZeros(traceID) || allZeros(parentID) {
		return ""
	}
	return traceID
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
