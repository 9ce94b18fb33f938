package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest/backtesttest"
)

// command runs the command with args and returns what it printed and its
// exit code.
func command(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// step is one line of -json output.
type step struct {
	Time         string               `json:"time"`
	Verdict      string               `json:"verdict"`
	Reason       string               `json:"reason"`
	Measurements []verify.Measurement `json:"measurements"`
	Line         int                  `json:"line"`
	Final        bool                 `json:"final"`
}

// steps runs the command with -json on path and decodes every line,
// failing t unless it exits 0 and prints nothing on stderr.
func steps(t *testing.T, path string, args ...string) []step {
	t.Helper()
	stdout, stderr, code := command(t, append([]string{"-data", path, "-json"}, args...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	var ss []step
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s step
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("line %d of -json output: %v: %s", len(ss)+1, err, sc.Text())
		}
		if s.Time == "" || s.Verdict == "" || s.Reason == "" || len(s.Measurements) == 0 {
			t.Errorf("line %d of -json output lacks a field: %s", len(ss)+1, sc.Text())
		}
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		t.Fatal("-json printed nothing")
	}
	for i, s := range ss {
		last := i == len(ss)-1
		if s.Final != last || (!last && s.Verdict != "observe") {
			t.Errorf("object %d of %d: verdict %s, final %v; want observe until the last, final", i+1, len(ss), s.Verdict, s.Final)
		}
	}
	return ss
}

// times returns the scenario's times, formatted as in its file.
func times(s backtesttest.Scenario) []string {
	var ts []string
	for _, iv := range s.Data().Intervals {
		ts = append(ts, iv.Time.Format(time.RFC3339))
	}
	return ts
}

func TestJSONGoodCanaryCompletes(t *testing.T) {
	// In a zone an hour ahead of UTC: the times must be the file's own.
	s := backtesttest.Scenario{Seed: 1, Before: 15, Start: time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))}
	ss := steps(t, backtesttest.File(t, s))
	if len(ss) != 61 {
		t.Fatalf("%d objects, want one per interval and the conclusion", len(ss))
	}
	want := times(s)[15:]
	for i, st := range ss[:60] {
		if st.Time != want[i] {
			t.Errorf("object %d: time %q, want the file's %q", i+1, st.Time, want[i])
		}
		// After the header and the 15 pre-deploy rows, two rows an interval,
		// the baseline's first.
		if want := 1 + 15 + 2*i + 1; st.Line != want {
			t.Errorf("object %d: line %d, want %d", i+1, st.Line, want)
		}
	}
	final := ss[60]
	if final.Verdict != "complete" || final.Time != want[59] {
		t.Errorf("conclusion %s at %s: %s; want complete at the last interval's time %s", final.Verdict, final.Time, final.Reason, want[59])
	}
}

func TestJSONStopsAtFirstRollback(t *testing.T) {
	s := backtesttest.Scenario{Seed: 2, Before: 15, Share: 0.05, ErrorRatio: 5}
	ss := steps(t, backtesttest.File(t, s))
	last := ss[len(ss)-1]
	if last.Verdict != "rollback" || len(ss) >= 60 {
		t.Fatalf("%d objects ending in %s: %s; want a rollback before the end", len(ss), last.Verdict, last.Reason)
	}
	if want := times(s)[15+len(ss)-1]; last.Time != want {
		t.Errorf("rollback at %s, want at the interval's time %s", last.Time, want)
	}
	var failed bool
	for _, m := range last.Measurements {
		if m.Metric == "error-rate" {
			failed = m.Failed && m.Evidence >= m.EvidenceBar && m.Value > m.Threshold && m.Ratio > m.Limit
		}
	}
	if !failed {
		t.Errorf("rollback measurements %+v: want error-rate failed with its numbers", last.Measurements)
	}
}

func TestJSONInconclusive(t *testing.T) {
	tests := []struct {
		name   string
		s      backtesttest.Scenario
		args   []string
		reason string
	}{
		{"low traffic", backtesttest.Scenario{Before: 15, Requests: 100, Share: 0.01, Intervals: 10}, nil, "of the 100 requests needed"},
		{"gaps", backtesttest.Scenario{Before: 15, Intervals: 10, Gaps: []int{2, 3, 4}}, nil, "data covered only 70% of the window (3 interval(s) without canary data in this window)"},
		{"meant 50%, got 5%", backtesttest.Scenario{Before: 15}, []string{"-weight", "50"}, "sample-ratio mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := steps(t, backtesttest.File(t, tt.s), tt.args...)
			if last := ss[len(ss)-1]; last.Verdict != "inconclusive" || !strings.Contains(last.Reason, tt.reason) {
				t.Errorf("%s: %s; want inconclusive saying %q", last.Verdict, last.Reason, tt.reason)
			}
		})
	}
}

func TestIntervalFlag(t *testing.T) {
	// One minute of data every five: with -interval 1m, the rows cover a
	// fifth of the window.
	s := backtesttest.Scenario{Before: 3, Intervals: 12, Interval: 5 * time.Minute}
	path := backtesttest.File(t, s)
	if last := steps(t, path)[12]; last.Verdict != "complete" {
		t.Errorf("without -interval: %s: %s; want complete", last.Verdict, last.Reason)
	}
	if last := steps(t, path, "-interval", "1m")[12]; last.Verdict != "inconclusive" || !strings.Contains(last.Reason, "covered only 21%") {
		t.Errorf("with -interval 1m: %s: %s; want inconclusive for coverage", last.Verdict, last.Reason)
	}
	_, stderr, code := command(t, "-data", path, "-interval", "6m")
	if code != 1 || !strings.Contains(stderr, "would overlap") {
		t.Errorf("-interval 6m: exit %d, stderr %q; want 1 saying the intervals would overlap", code, stderr)
	}
}

var timeline = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  (observe|rollback)  +\S`)

func TestText(t *testing.T) {
	tests := []struct {
		name      string
		s         backtesttest.Scenario
		intervals int // 0: fewer than all
		verdict   string
	}{
		{"good canary", backtesttest.Scenario{Before: 15, Intervals: 20}, 20,
			"verdict: complete at the end of the window, after 20 interval(s): no limit crossed: 4 metric(s)"},
		{"5× errors", backtesttest.Scenario{Before: 15, ErrorRatio: 5}, 0, "verdict: rollback at 2025-03-01T12:28:00Z, after 14 interval(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := command(t, "-data", backtesttest.File(t, tt.s))
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "baseline: 2025-03-01T12:00:00Z to 2025-03-01T12:15:00Z, ") ||
				!strings.HasPrefix(lines[1], "window: 2025-03-01T12:15:00Z to ") || !strings.Contains(lines[1], "(observed)") {
				t.Errorf("header lines %q, want the baseline and the window", lines[:2])
			}
			n := 0
			for _, l := range lines[2:] {
				if !timeline.MatchString(l) {
					break
				}
				n++
			}
			if tt.intervals > 0 && n != tt.intervals {
				t.Errorf("%d timeline lines, want %d", n, tt.intervals)
			}
			if !strings.HasPrefix(lines[2+n], tt.verdict) {
				t.Errorf("after %d timeline lines: %q, want %q", n, lines[2+n], tt.verdict)
			}
			numbers := lines[3+n:]
			if len(numbers) != 4 || !strings.HasPrefix(numbers[0], "  error-rate ") {
				t.Errorf("numbers %q, want the 4 measurements", numbers)
			}
			if strings.HasPrefix(tt.verdict, "verdict: rollback") {
				if !strings.Contains(lines[1+n], "rollback") || !strings.HasSuffix(numbers[0], "FAILED") {
					t.Errorf("rollback line %q, numbers %q: want the timeline to end at the rollback with error-rate FAILED", lines[1+n], numbers[0])
				}
			}
		})
	}
}

func TestUnreadableInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"missing file", []string{"-data", filepath.Join(dir, "nope.csv")}, 1, []string{"nope.csv", "no such file"}},
		{"bad number", []string{"-data", write("number.csv", "time,arm,requests,errors\n2025-03-01T12:00:00Z,baseline,100,1\n2025-03-01T12:00:00Z,canary,10,x\n")},
			1, []string{"number.csv: line 3: column \"errors\": \"x\" is not a number"}},
		{"bad CSV", []string{"-data", write("quote.csv", "time,arm,requests,errors\n2025-03-01T12:00:00Z,baseline,100,1\n\"2025-03-01T12:01:00Z,canary,10,1\n")},
			1, []string{"quote.csv: line 3: ", "extraneous or missing \" in quoted-field"}},
		{"+Inf", []string{"-data", write("inf.csv", "time,arm,requests,errors,le=0.1,le=+Inf\n2025-03-01T12:00:00Z,baseline,100,1,80,90\n")},
			1, []string{"inf.csv: line 2: le=+Inf 90 differs from requests 100"}},
		{"no baseline", []string{"-data", write("canary.csv", "time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,100,1\n")},
			1, []string{"canary.csv: backtest: no baseline row with requests"}},
		{"bad weight", []string{"-data", "x.csv", "-weight", "200"}, 2, []string{"-weight 200: want a percentage"}},
		{"bad interval", []string{"-data", "x.csv", "-interval", "-1m"}, 2, []string{"-interval -1m0s: want a positive duration"}},
		{"no -data", nil, 2, []string{"usage: backtest -data FILE.csv"}},
		{"unknown flag", []string{"-data", "x.csv", "-fast"}, 2, []string{"flag provided but not defined: -fast"}},
		{"stray argument", []string{"-data", "x.csv", "y.csv"}, 2, []string{"usage:"}},
		{"help", []string{"-h"}, 0, []string{"usage:", "-json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := command(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
