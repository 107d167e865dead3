package testkit

import (
	"os"
	"testing"
)

// TestAuditRecordCoversGolden: every record of the audit schema's golden
// file (one of each kind, kept in step with docs/audit.md by the gateway's
// tests) decodes into AuditRecord, which knows every field it carries.
func TestAuditRecordCoversGolden(t *testing.T) {
	b, err := os.ReadFile("../../gateway/testdata/audit_records.golden")
	if err != nil {
		t.Fatal(err)
	}
	recs := AuditRecords(t, string(b))
	if len(recs) < 2 {
		t.Fatalf("%d records in the golden file; want one of each kind", len(recs))
	}
	for _, r := range recs {
		if r.Logger != "audit" || r.V != 1 || r.Msg == "" {
			t.Errorf("record %+v; want logger audit, audit_v 1 and a msg", r)
		}
	}
}

func TestDecodeAudit(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		ok, err    bool
	}{
		{"decision", `{"logger":"audit","msg":"decision","audit_v":1,"status":403,"act":[{"sub":"a","client_id":"c"}]}`, true, false},
		{"operational log line", `{"level":"info","msg":"listening","addr":"127.0.0.1:1"}`, false, false},
		{"unknown audit field", `{"logger":"audit","msg":"decision","surprise":1}`, false, true},
		{"not JSON", `listening on 127.0.0.1:1`, false, true},
		{"wrong type", `{"logger":"audit","msg":"decision","status":"403"}`, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, ok, err := DecodeAudit([]byte(tt.line))
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("DecodeAudit = %+v, %t, %v; want ok %t, error %t", rec, ok, err, tt.ok, tt.err)
			}
			if ok && (rec.Status != 403 || len(rec.Act) != 1 || rec.Act[0].ClientID != "c" || !rec.Has("act") || rec.Has("detail")) {
				t.Fatalf("decoded %+v", rec)
			}
		})
	}
}
