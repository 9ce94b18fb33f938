package journal_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// FuzzDecode feeds arbitrary bytes, as a damaged or foreign journal might
// hold them, to everything that decodes what a journal stored: an entry's
// Data (Entry.Validate, ControlOf, ChangeOf) and a finished run's record
// (runbook.ParseRecord). None may panic; a decoding error must wrap
// ErrCorrupt; and what decodes must encode and decode again to the same
// value, so that a journal can store it again.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"op":`, "\xff\xfe",
		`{"op":"pause","who":"alice","why":"error budget"}`,
		`{"op":"route","version":"v2","stable":"v1","weight":12.5}`,
		`{"op":"flag","name":"checkout-v2","enabled":true}`,
		`{"op":"start","weight":1e308,"enabled":"yes"}`,
		`{"schema":1,"runbook":{"service":"shop","rollback_time":"2m0s","date":"2025-03-01T12:00:00+05:30"},` +
			`"started":"2025-03-01T12:00:00Z","outcome":"rolled_back","rollback_seconds":12.5,` +
			`"entries":[{"time":"2025-03-01T12:05:00Z","phase":"verify","kind":"verdict","message":"fail",` +
			`"numbers":[{"metric":"error-rate","unit":"rate","value":0.031,"baseline":0.004,"threshold":0.008}]}]}`,
		`{"schema":99}`, `{"schema":-1,"runbook":{"rollback_time":"forever"}}`, `{"started":"0000-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := journal.Entry{Seq: 7, Type: journal.TypeControl, Data: data}
		if err := e.Validate(); (err == nil) != (len(data) == 0 || json.Valid(data)) {
			t.Errorf("Validate() = %v for Data %q (valid JSON: %t)", err, data, json.Valid(data))
		}

		if c, err := journal.ControlOf(e); err != nil {
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Errorf("ControlOf error = %v; want one wrapping ErrCorrupt", err)
			}
		} else {
			again, err := journal.NewEntry(journal.TypeControl, "", c)
			if err != nil {
				t.Fatalf("NewEntry of a decoded control %+v: %v", c, err)
			}
			if c2, err := journal.ControlOf(again); err != nil || c2 != c {
				t.Errorf("control %+v decoded again as %+v, %v", c, c2, err)
			}
		}

		if ch, err := journal.ChangeOf(e); err != nil {
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Errorf("ChangeOf error = %v; want one wrapping ErrCorrupt", err)
			}
		} else {
			again, err := journal.NewEntry(journal.TypeIntent, "", ch)
			if err != nil {
				t.Fatalf("NewEntry of a decoded change %+v: %v", ch, err)
			}
			if ch2, err := journal.ChangeOf(again); err != nil || ch2 != ch {
				t.Errorf("change %+v decoded again as %+v, %v", ch, ch2, err)
			}
		}

		rec, err := runbook.ParseRecord(data)
		if err != nil {
			return
		}
		out, err := rec.JSON()
		if err != nil {
			t.Fatalf("a parsed record does not encode: %v\nrecord: %+v", err, rec)
		}
		again, err := runbook.ParseRecord(out)
		if err != nil {
			t.Fatalf("a record's JSON does not parse: %v\n%s", err, out)
		}
		rec.Schema = runbook.SchemaVersion // JSON writes the current version
		// Empty lists are left out of the JSON: they come back nil.
		if diff := cmp.Diff(rec, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("record changed through JSON (-parsed +again):\n%s", diff)
		}
	})
}
