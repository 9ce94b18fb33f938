package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// TestRolling runs the command on its simulated fleet in a bubble, so its
// seconds of windows pass at once: a good v2 completes (exit 0), a bad one
// is rolled back, its kill switch off first, with the numbers behind the decision (exit 1).
func TestRolling(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"good", nil, 0, []string{"completed after", "fleet now: map[v2:8]", "server-side-basket"}},
		{"bad", []string{"-bad"}, 1, []string{"rolled back after", "error-rate 8% vs ", "ratio 8 in [", "above the limit 2× (2%)", "kill switch", "fleet now: map[v1:8]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var out bytes.Buffer
				if code := run(t.Context(), c.args, &out); code != c.code {
					t.Errorf("exit code %d, want %d", code, c.code)
				}
				for _, want := range append(c.wants, "by rolling update", "shortened for the demo", "preflight", "baseline v1", "step", "verdict", "# Runbook: shop v1 → v2", "## Rollback plan") {
					if !strings.Contains(out.String(), want) {
						t.Errorf("output lacks %q:\n%s", want, out.String())
					}
				}
			})
		})
	}
}

// -report writes the run's HTML report; a report that cannot be written
// fails the command.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		path := filepath.Join(dir, "run.html")
		if code := run(t.Context(), []string{"-bad", "-report", path}, &out); code != 1 {
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
		if code := run(t.Context(), []string{"-report", filepath.Join(dir, "no", "such", "dir", "run.html")}, &out); code != 1 {
			t.Errorf("exit code %d with an unwritable report, want 1", code)
		}
		if !strings.Contains(out.String(), "the report was not written") {
			t.Errorf("output lacks the failure:\n%s", out.String())
		}
	})
}
