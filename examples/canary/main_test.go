package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCanary runs the command on a real loopback fleet, with short windows
// and a light load, good and bad. The windows leave room for a machine busy
// with other tests: a step must still see the 100 requests a pass needs at
// half the configured rate.
func TestCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real servers for several seconds")
	}
	flags := []string{"-rps", "400", "-instances", "3", "-steps", "25,100", "-step", "2500ms", "-interval", "250ms", "-startup", "100ms"}
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"good", nil, 0, []string{"completed after", "canary 100%", "kill switch off", "faster than a redeploy", "# Runbook: shop v1 → v2"}},
		{"bad", []string{"-bad"}, 1, []string{"rolled back after", "error-rate", "FAILED", "v2's first request to traffic restored to v1", "redeploy v1 (3 instances)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(t.Context(), append(c.args, flags...), &out); code != c.code {
				t.Errorf("exit code %d, want %d:\n%s", code, c.code, out.String())
			}
			for _, want := range c.wants {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
