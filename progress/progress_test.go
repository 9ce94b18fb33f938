package progress

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/verify"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func events(start time.Time) []deploy.Event {
	v := &verify.Verdict{Outcome: verify.Continue, Measurements: []verify.Measurement{
		{Metric: "error-rate", Ratio: 1.5, Lower: 0.9, Upper: 2.1, Limit: 2},
		{Metric: "latency-p95", Ratio: 0.97, Lower: 0.8, Upper: 1.18, Limit: 2},
		{Metric: "business-rate", Ratio: 1, Lower: 0.7, Upper: 1.4, Limit: 0.8},
	}}
	return []deploy.Event{
		{Time: start, Kind: deploy.KindPhase, Phase: deploy.PhaseDeploy, Message: "deploying v2 by canary"},
		{Time: start, Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "canary 25%", Message: "25% on v2; observing for 5m0s"},
		{Time: start.Add(time.Minute), Kind: deploy.KindMeasurement, Phase: deploy.PhaseVerify, Step: "canary 25%", Message: "continue: no limit crossed", Verdict: v},
		{Time: start.Add(2 * time.Minute), Kind: deploy.KindAction, Phase: deploy.PhaseDeploy, Message: "started instance v2-3 (v2)"},
		{Time: start.Add(3 * time.Minute), Kind: deploy.KindOutcome, Phase: deploy.PhaseDecide, Message: "completed: v2 serves all traffic"},
	}
}

// Not a terminal: exactly deploy.Printer's lines.
func TestPlainWhenNotTerminal(t *testing.T) {
	var got, want bytes.Buffer
	o, p := New(&got), deploy.Printer(&want)
	for _, e := range events(t0) {
		o.Observe(context.Background(), e)
		p.Observe(context.Background(), e)
	}
	if got.String() != want.String() {
		t.Errorf("output:\n%s\nwant deploy.Printer's:\n%s", got.String(), want.String())
	}
}

func TestStatusLine(t *testing.T) {
	var s status
	for _, e := range events(t0)[:3] {
		s.update(e)
	}
	got := s.line(t0.Add(72*time.Second), 200)
	want := "▶ canary 25% · 25% on v2 · 3m48s left · err 1.5× [0.9–2.1] ≤2 · p95 0.97× [0.8–1.18] ≤2 · biz 1× [0.7–1.4] ≥0.8"
	if got != want {
		t.Errorf("line:\n%q\nwant\n%q", got, want)
	}
	if got := s.line(t0.Add(time.Hour), 200); !strings.Contains(got, " 0s left") {
		t.Errorf("past the window: %q", got)
	}
	if got := s.line(t0, 20); got != "▶ canary 25% · 25%…\x1b[0m" {
		t.Errorf("cut to 19 columns (one spare for the cursor): %q", got)
	}
}

func TestCut(t *testing.T) {
	red := "\x1b[31merr 3× ✗\x1b[0m"
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 4, "abc…\x1b[0m"},
		{"a " + red, 20, "a " + red},
		{"a " + red, 4, "a \x1b[31me…\x1b[0m"},
		{"abc", 0, ""},
	} {
		if got := cut(tc.s, tc.n); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the ticker and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// On a terminal: event lines scroll, the measurements update the status
// line in place, the time left counts down every second, and when the run
// ends the status line is erased and the ticker stops (synctest.Test
// would report it blocked forever otherwise).
func TestLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		o := Live(&out, func() int { return 200 })
		evs := events(time.Now())
		for _, e := range evs[:2] {
			o.Observe(context.Background(), e)
		}
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		if s := out.String(); !strings.Contains(s, "\r\x1b[2K▶ canary 25% · 25% on v2 · 4m58s left") {
			t.Errorf("no countdown after 2s:\n%q", s)
		}
		for _, e := range evs[2:] {
			o.Observe(context.Background(), e)
		}
		s := out.String()
		if strings.Contains(s, "continue: no limit crossed") {
			t.Error("a measurement was printed as a line")
		}
		if !strings.Contains(s, "err 1.5× [0.9–2.1] ≤2") || !strings.Contains(s, "started instance v2-3 (v2)\n") {
			t.Errorf("output lacks the ratios or an event line:\n%q", s)
		}
		if !strings.HasSuffix(s, "completed: v2 serves all traffic\n") {
			t.Errorf("status line not erased at the end:\n%q", s[max(0, len(s)-120):])
		}
	})
}

// A new error pattern shows on the status line, counted, until the next
// step.
func TestStatusLinePatterns(t *testing.T) {
	var s status
	for _, e := range events(t0)[:3] {
		s.update(e)
	}
	s.update(deploy.Event{Time: t0.Add(90 * time.Second), Kind: deploy.KindPattern, Phase: deploy.PhaseVerify, Step: "canary 25%", Message: `new error pattern "x <*>"`})
	if got := s.line(t0.Add(2*time.Minute), 300); !strings.HasSuffix(got, " · \x1b[31m1 new log pattern(s) ✗\x1b[0m") {
		t.Errorf("line %q does not end with the pattern count", got)
	}
	s.update(deploy.Event{Time: t0.Add(5 * time.Minute), Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "canary 50%", Message: "50% on v2; observing for 5m0s"})
	if got := s.line(t0.Add(5*time.Minute), 300); strings.Contains(got, "pattern") {
		t.Errorf("the next step's line %q still counts the pattern", got)
	}
}
