package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// TestExamples runs every example program, good and bad, in a bubble, and
// checks each ends as its documentation says, printing what it promises.
func TestExamples(t *testing.T) {
	for name, ex := range map[string]Example{"canary": Canary(), "bluegreen": BlueGreen(), "rolling": Rolling()} {
		for _, bad := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "/good", true: "/bad"}[bad], func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var out bytes.Buffer
					code := ex.Run(t.Context(), bad, &out)
					want, outcome := 0, "completed after"
					if bad {
						want, outcome = 1, "rolled back after"
					}
					if code != want {
						t.Errorf("exit code %d, want %d", code, want)
					}
					for _, s := range []string{"shortened for the demo", "preflight", "baseline v1", "step", "verdict", outcome, "# Runbook: shop v1 → v2", "## Rollback plan"} {
						if !strings.Contains(out.String(), s) {
							t.Errorf("output lacks %q:\n%s", s, out.String())
						}
					}
					if bad && !(strings.Contains(out.String(), "error-rate 8% vs ") && strings.Contains(out.String(), "ratio 8 in [") && strings.Contains(out.String(), "above the limit 2× (2%)")) {
						t.Errorf("output lacks the numbers behind the rollback:\n%s", out.String())
					}
				})
			})
		}
	}
}

// -report writes the run's HTML report; a report that cannot be written
// fails the command.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		path := filepath.Join(dir, "run.html")
		if code := BlueGreen().RunWith(t.Context(), Options{Bad: true, Report: path}, &out); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		page, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(page), "<title>Rolled back: shop v1 → v2 (staging)</title>") || !strings.Contains(out.String(), "The report of this run: "+path) {
			t.Errorf("report %d bytes, output:\n%s", len(page), out.String())
		}
		out.Reset()
		if code := Rolling().RunWith(t.Context(), Options{Report: filepath.Join(dir, "no", "such", "dir", "run.html")}, &out); code != 1 {
			t.Errorf("exit code %d with an unwritable report, want 1", code)
		}
		if !strings.Contains(out.String(), "the report was not written") {
			t.Errorf("output lacks the failure:\n%s", out.String())
		}
	})
}
