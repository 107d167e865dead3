package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestAuditConfig(t *testing.T) {
	tests := []struct {
		name, extra string
		want        AuditConfig
		wantErr     string // a substring of the error; "" for success
	}{
		{name: "defaults", want: AuditConfig{Output: "stdout", MaxRecordsPerSecond: 1000, Burst: 2000}},
		{name: "stderr", extra: "audit:\n  output: stderr\n", want: AuditConfig{Output: "stderr", MaxRecordsPerSecond: 1000, Burst: 2000}},
		{name: "file and rate", extra: "audit:\n  output: /var/log/scopegate/audit.log\n  max_records_per_second: 50\n",
			want: AuditConfig{Output: "/var/log/scopegate/audit.log", MaxRecordsPerSecond: 50, Burst: 100}},
		{name: "no cap", extra: "audit:\n  max_records_per_second: -1\n", want: AuditConfig{Output: "stdout", MaxRecordsPerSecond: -1}},
		{name: "relative path", extra: "audit:\n  output: audit.log\n", wantErr: `audit.output: "audit.log" is neither stdout, stderr nor an absolute file path`},
		{name: "directory", extra: "audit:\n  output: /var/log/\n", wantErr: "audit.output"},
		{name: "negative rate", extra: "audit:\n  max_records_per_second: -5\n", wantErr: "audit.max_records_per_second"},
		{name: "negative burst", extra: "audit:\n  burst: -1\n", wantErr: "audit.burst: must be at least 1"},
		{name: "burst without cap", extra: "audit:\n  max_records_per_second: -1\n  burst: 10\n", wantErr: "audit.burst: has no meaning"},
		{name: "unknown key", extra: "audit:\n  outptu: stderr\n", wantErr: "outptu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(minimal+tt.extra), noEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Audit != tt.want {
				t.Errorf("audit %+v; want %+v", cfg.Audit, tt.want)
			}
		})
	}
}

func TestRouteModeConfig(t *testing.T) {
	text := strings.Replace(minimal, `    scopes: ["chat:completions"]`, "    scopes: [\"chat:completions\"]\n    mode: dry-run", 1)
	line := strings.Count(text[:strings.Index(text, "mode: dry-run")], "\n") + 1
	_, err := Parse([]byte(text), noEnv)
	if err == nil || !strings.Contains(err.Error(), "routes[0].mode") || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", line)) {
		t.Errorf("error %v; want routes[0].mode named with its line, %d", err, line)
	}
}
