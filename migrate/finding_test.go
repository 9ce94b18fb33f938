package migrate_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/migrate"
)

func TestFindingString(t *testing.T) {
	f := migrate.Finding{
		Rule: "ban-drop-column", Severity: migrate.Error, Migration: "0042_drop_note",
		Statement: 0, Pos: 12, Message: "removes orders.note", Fix: "wait",
	}
	want := "0042_drop_note: error [ban-drop-column]: removes orders.note; fix: wait"
	if got := f.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSeverityText(t *testing.T) {
	for _, tt := range []struct {
		s    migrate.Severity
		text string
	}{
		{migrate.Warning, "warning"},
		{migrate.Error, "error"},
	} {
		if got := tt.s.String(); got != tt.text {
			t.Errorf("%d.String() = %q, want %q", int(tt.s), got, tt.text)
		}
		b, err := tt.s.MarshalText()
		if err != nil || string(b) != tt.text {
			t.Errorf("%d.MarshalText() = %q, %v; want %q, nil", int(tt.s), b, err, tt.text)
		}
		var back migrate.Severity
		if err := back.UnmarshalText([]byte(tt.text)); err != nil || back != tt.s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, nil", tt.text, back, err, tt.s)
		}
	}
}

func TestSeverityUnmarshalTextRejectsUnknown(t *testing.T) {
	for _, text := range []string{"", "fatal", "Error ", "1"} {
		s := migrate.Error
		if err := s.UnmarshalText([]byte(text)); err == nil {
			t.Errorf("UnmarshalText(%q) = nil error, want one", text)
		}
		if s != migrate.Error {
			t.Errorf("UnmarshalText(%q) changed the severity to %v on failure", text, s)
		}
	}
}

func TestFindingJSONRoundTrip(t *testing.T) {
	in := []migrate.Finding{
		{Rule: "ban-drop-column", Severity: migrate.Error, Migration: "0002", Statement: -1, Pos: -1, Message: "m", Fix: "f"},
		{Rule: "prefer-robust-stmts", Severity: migrate.Warning, Migration: "0003", Statement: 1, Pos: 40, Message: "m2", Fix: "f2"},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"rule":"ban-drop-column","severity":"error","migration":"0002","statement":-1,"pos":-1,"message":"m","fix":"f"},` +
		`{"rule":"prefer-robust-stmts","severity":"warning","migration":"0003","statement":1,"pos":40,"message":"m2","fix":"f2"}]`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s", diff)
	}
	var out []migrate.Finding
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}
