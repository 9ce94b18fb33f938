package demo

import (
	"bytes"
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
