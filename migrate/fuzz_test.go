package migrate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/migrate"
)

// Severity reads back exactly the two words it writes.
func FuzzSeverityText(f *testing.F) {
	for _, s := range []string{"warning", "error", "Error", "", " warning", "fatal", "warning\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s := migrate.Severity(7)
		err := s.UnmarshalText([]byte(text))
		valid := text == "warning" || text == "error"
		if valid != (err == nil) {
			t.Fatalf("UnmarshalText(%q) = %v", text, err)
		}
		if !valid {
			if s != 7 {
				t.Fatalf("a failed UnmarshalText(%q) changed the severity to %v", text, s)
			}
			return
		}
		b, err := s.MarshalText()
		if err != nil || string(b) != text {
			t.Fatalf("MarshalText after UnmarshalText(%q) = %q, %v", text, b, err)
		}
	})
}

// A Finding decoded from any JSON encodes and decodes to itself.
func FuzzFindingJSON(f *testing.F) {
	f.Add(`{"rule":"ban-drop-column","severity":"error","migration":"0003","statement":0,"pos":12,"message":"m","fix":"x"}`)
	f.Add(`{"severity":"warning"}`)
	f.Add(`{"severity":"fatal"}`)
	f.Add(`{"severity":1}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		var a migrate.Finding
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			return
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", a, err)
		}
		var c migrate.Finding
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("Unmarshal(%s) of what Marshal wrote: %v", b, err)
		}
		if diff := cmp.Diff(a, c); diff != "" {
			t.Fatalf("round trip (-before +after):\n%s", diff)
		}
	})
}

// Every finding of CheckRemovals is an error about a removal that covers a
// name a version uses, or about a removal when nothing is declared.
func FuzzCheckRemovals(f *testing.F) {
	f.Add("orders.note", "orders.id,orders.note", "orders.id")
	f.Add("orders", "orders.note", "")
	f.Add("orders", "orders_archive", "orders_archive.id")
	f.Add("a.b,a", "", "")
	f.Add("", "x", "x")
	f.Fuzz(func(t *testing.T, removes, running, newer string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		m := migrate.Migration{ID: "m", Removes: split(removes)}
		u := migrate.Usage{Running: split(running), New: split(newer)}
		findings := migrate.CheckRemovals([]migrate.Migration{m}, u)
		undeclared := len(u.Running) == 0 && len(u.New) == 0
		if undeclared && len(findings) != len(m.Removes) {
			t.Fatalf("%d findings for %d removals with nothing declared, want one each", len(findings), len(m.Removes))
		}
		if max := len(m.Removes) * (len(u.Running) + len(u.New)); !undeclared && len(findings) > max {
			t.Fatalf("%d findings, more than removals × names used (%d)", len(findings), max)
		}
		for _, fd := range findings {
			if fd.Severity != migrate.Error || fd.Migration != "m" {
				t.Fatalf("finding %+v: want an error about migration m", fd)
			}
			if undeclared {
				continue
			}
			found := false
			for _, gone := range m.Removes {
				for _, used := range append(u.Running, u.New...) {
					if (gone == used || strings.HasPrefix(used, gone+".")) && strings.Contains(fd.Message, used) {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("finding %q names no used name that a removal covers", fd.Message)
			}
		}
	})
}
