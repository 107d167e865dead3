package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// AuditRecord is one line of the audit trail (docs/audit.md): a decision
// record (Msg "decision"), a summary of dropped records (Msg
// "audit_dropped") or a revocation made through the admin API. A field the record left out is the zero value; Has
// tells a field left out from one written empty.
type AuditRecord struct {
	TS                 time.Time `json:"ts"`
	Logger             string    `json:"logger"`
	Msg                string    `json:"msg"`
	V                  int       `json:"audit_v"`
	RequestID          string    `json:"request_id"`
	TraceID            string    `json:"trace_id"`
	Route              string    `json:"route"`
	Method             string    `json:"method"`
	PathTemplate       string    `json:"path_template"`
	Decision           string    `json:"decision"`
	Reason             string    `json:"reason"`
	Status             int       `json:"status"`
	DurationMS         float64   `json:"duration_ms"`
	RemoteAddr         string    `json:"remote_addr"`
	Upstream           string    `json:"upstream"`
	UpstreamDurationMS float64   `json:"upstream_duration_ms"`
	LimitBilled        string    `json:"limit_billed"`
	LimitTokens        float64   `json:"limit_tokens"`
	LimitCost          string    `json:"limit_cost"`
	LimitDrain         string    `json:"limit_drain"`
	Detail             string    `json:"detail"`
	Iss                string    `json:"iss"`
	Sub                string    `json:"sub"`
	ClientID           string    `json:"client_id"`
	Act                []Actor   `json:"act"`
	Scopes             string    `json:"scopes"`
	JTI                string    `json:"jti"`
	Principal          string    `json:"principal"`
	DelegationDepth    int       `json:"delegation_depth"`
	Binding            string    `json:"binding"`
	DPoPJKT            string    `json:"dpop_jkt"`
	MCPMethod          string    `json:"mcp_method"`
	MCPTool            string    `json:"mcp_tool"`
	Model              string    `json:"model"`
	RequiredScopes     string    `json:"required_scopes"`
	BytesIn            int64     `json:"bytes_in"`
	BytesOut           int64     `json:"bytes_out"`
	ConfigHash         string    `json:"config_hash"`
	UpstreamError      string    `json:"upstream_error"`

	// The summary of dropped records (Msg "audit_dropped").
	Since   time.Time        `json:"since"`
	Dropped map[string]int64 `json:"dropped"`

	// The admin API's revocation records (Msg "revocation_added",
	// "revocation_lifted"); Iss and RemoteAddr are above.
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	RevokedBy string    `json:"revoked_by"`
	NotBefore time.Time `json:"not_before"`
	ExpiresAt time.Time `json:"expires_at"`

	// Fields is the record as written, name by name.
	Fields map[string]any `json:"-"`
}

// Actor is one link of a record's act chain.
type Actor struct {
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
}

// Has reports whether the record carries the named field.
func (r AuditRecord) Has(name string) bool {
	_, ok := r.Fields[name]
	return ok
}

// Get returns the named field as written (nil when absent): for tests that
// go over fields by name.
func (r AuditRecord) Get(name string) any { return r.Fields[name] }

// DecodeAudit decodes one JSON line. ok is false, with a nil error, for a
// JSON line that is not an audit record (the operational log shares
// stdout with the audit trail). A field the type does not know is an
// error: a new audit field is added to AuditRecord and docs/audit.md
// together.
func DecodeAudit(line []byte) (rec AuditRecord, ok bool, err error) {
	if err := json.Unmarshal(line, &rec.Fields); err != nil {
		return AuditRecord{}, false, fmt.Errorf("not a JSON line: %w: %s", err, line)
	}
	if rec.Fields["logger"] != "audit" {
		return AuditRecord{}, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return AuditRecord{}, false, fmt.Errorf("audit record: %w: %s", err, line)
	}
	return rec, true, nil
}

// AuditRecords returns every audit record among the lines of text, in
// order, skipping blank lines and the operational log's lines, and fails t
// on a line that is not JSON or a record that does not decode.
func AuditRecords(t testing.TB, text string) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rec, ok, err := DecodeAudit(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, rec)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
