package runbook_test

import (
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/runbook"
)

func TestRunbookJSONRoundTrip(t *testing.T) {
	for _, rb := range []runbook.Runbook{fullRunbook(), {RollbackTime: 1500 * time.Millisecond}} {
		data, err := json.Marshal(rb)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var got runbook.Runbook
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		if diff := cmp.Diff(rb, got); diff != "" {
			t.Errorf("round trip through %s (-want +got):\n%s", data, diff)
		}
	}
}

func TestRunbookJSONRollbackTime(t *testing.T) {
	data, err := json.Marshal(fullRunbook())
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if want := `"rollback_time":"2m0s"`; !strings.Contains(string(data), want) {
		t.Errorf("Marshal = %s, want it to contain %s", data, want)
	}

	// Missing and null leave the duration as it was.
	for _, in := range []string{`{}`, `{"rollback_time":null}`} {
		rb := runbook.Runbook{RollbackTime: time.Minute}
		if err := json.Unmarshal([]byte(in), &rb); err != nil {
			t.Errorf("Unmarshal(%s): %v", in, err)
		}
		if rb.RollbackTime != time.Minute {
			t.Errorf("Unmarshal(%s): RollbackTime = %v, want it left at 1m0s", in, rb.RollbackTime)
		}
	}

	for _, in := range []string{`{"rollback_time":"soon"}`, `{"rollback_time":120}`, `{"service":1}`} {
		var rb runbook.Runbook
		if err := json.Unmarshal([]byte(in), &rb); err == nil {
			t.Errorf("Unmarshal(%s) = nil error, want one", in)
		}
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	rec := fullRecord()
	data, err := rec.JSON()
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if !strings.HasPrefix(string(data), "{\n  \"schema\": 1,\n  \"runbook\": {\n    \"service\": \"checkout\",\n") {
		t.Errorf("JSON is not indented:\n%s", data)
	}
	if want := `    "rollback_time": "2m0s"`; !strings.Contains(string(data), want) {
		t.Errorf("JSON lacks %s:\n%s", want, data)
	}
	got, err := runbook.ParseRecord(data)
	if err != nil {
		t.Fatalf("ParseRecord: %v", err)
	}
	rec.Schema = runbook.SchemaVersion
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestRecordJSONFails(t *testing.T) {
	rec := &runbook.Record{Entries: []runbook.Entry{{Numbers: []runbook.Number{{Value: math.NaN()}}}}}
	if _, err := rec.JSON(); err == nil {
		t.Error("JSON of a NaN value = nil error, want one")
	}
}

func TestParseRecordRefusesNewerSchema(t *testing.T) {
	_, err := runbook.ParseRecord([]byte(`{"schema": 99, "outcome": "completed"}`))
	if err == nil || !strings.Contains(err.Error(), "schema 99 is newer than this package's 1") {
		t.Errorf("ParseRecord of schema 99 = %v", err)
	}
	if _, err := runbook.ParseRecord([]byte(`[1, 2]`)); err == nil {
		t.Error("ParseRecord of an array = nil error")
	}
}

// A record with a new error pattern round-trips through JSON with the
// pattern's stable field names, and its Markdown lists the pattern.
func TestRecordPatterns(t *testing.T) {
	rec := &runbook.Record{Started: at(0), Entries: []runbook.Entry{{
		Time: at(time.Minute), Phase: "verify", Kind: "pattern", Step: "canary 5%", Message: "new error pattern",
		Patterns: []runbook.Pattern{{ID: "7", Template: "checkout degraded: connection pool exhausted for shard <*>", Level: slog.LevelError,
			Example: `{"msg":"checkout degraded","err":"connection pool exhausted for shard 3"}`, NewCount: 12, NewExposure: 300, OldExposure: 5700,
			FirstSeen: at(20 * time.Second), Found: at(time.Minute), Evidence: 2e4, EvidenceBar: 1e4}},
	}}}
	data, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"patterns": [`, `"template": "checkout degraded: connection pool exhausted for shard \u003c*\u003e"`, `"level": "ERROR"`, `"new_count": 12`, `"old_count": 0`, `"first_seen": "2025-03-01T14:00:20Z"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s:\n%s", want, data)
		}
	}
	got, err := runbook.ParseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	rec.Schema = runbook.SchemaVersion
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	want := `- new ERROR pattern "checkout degraded: connection pool exhausted for shard <*>": 12 lines from the new version, 0 from the old; first seen 2025-03-01T14:00:20Z; e.g. "{\"msg\":\"checkout degraded\",\"err\":\"connection pool exhausted for shard 3\"}"`
	if md := rec.Markdown(); !strings.Contains(md, want) {
		t.Errorf("Markdown lacks\n%s\nin\n%s", want, md)
	}
}
