package report_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/runbook"
)

func render(t *testing.T, rec *runbook.Record) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.Write(&b, rec); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.String()
}

// text is the page with its character references resolved, as read.
func text(page string) string { return html.UnescapeString(page) }

// external matches what would make a browser fetch something: a src or
// href to another document, a url() in CSS, an @import.
var external = regexp.MustCompile(`(?i)(src|href)\s*=\s*"(?:https?:)?//|url\(|@import`)

func TestWriteRolledBack(t *testing.T) {
	page := render(t, runRecord(t, true))
	read := text(page)
	for _, want := range []string{
		"<title>Rolled back: shop v1 → v2 (staging)</title>",
		`class="banner tone-bad"`,
		"<strong>Decision:</strong> roll back</p>",
		"canary 5%", "canary 25%",
		"Error rate", "Requests slower than", "Business events per request",
		"The evidence crossed the bar at +", // when the judge became sure it was worse
		"0042_add_orders_status applied",    // the migration
		"How to verify", "Rollback plan", "Time to roll back",
	} {
		if !strings.Contains(read, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(read, "canary 100%") {
		t.Error("page shows the step that was never reached")
	}
	if m := external.FindString(page); m != "" {
		t.Errorf("page loads something from outside itself: %q", m)
	}
}

func TestWriteCompleted(t *testing.T) {
	rec := runRecord(t, false)
	page := render(t, rec)
	read := text(page)
	for _, want := range []string{
		"<title>Completed: shop v1 → v2 (staging)</title>",
		`class="banner tone-good"`,
		"canary 100%",
		"The judge was sure it held from +",
	} {
		if !strings.Contains(read, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "Decision:") {
		t.Error("a completed run shows a decision")
	}
	// One chart per metric and step (5 metrics × 3 steps), and the
	// traffic chart drawn twice (laptop and phone).
	if n := strings.Count(page, `<svg class="chart"`); n != 5*3+2 {
		t.Errorf("%d charts, want %d", n, 5*3+2)
	}
}

// A record read back from JSON renders as the run's own did.
func TestWriteFromJSON(t *testing.T) {
	rec := runRecord(t, true)
	data, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back runbook.Record
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := render(t, &back), render(t, rec); got != want {
		t.Error("the page of the record read back from JSON differs from the run's")
	}
}

// The record's outcome is read as today's prose or as a stable token.
func TestWriteOutcomeSpellings(t *testing.T) {
	for _, tc := range []struct{ outcome, label, tone string }{
		{"rolled back", "Rolled back", "bad"},
		{"rolled_back", "Rolled back", "bad"},
		{"roll_forward_required", "Roll forward required", "bad"},
		{"rollback failed", "Rollback failed", "critical"},
		{"deployed, clean-up incomplete", "Deployed, clean-up incomplete", "warn"},
		{"", "Running", "neutral"},
		{"exploded", "exploded", "neutral"},
	} {
		page := render(t, &runbook.Record{Outcome: tc.outcome})
		if !strings.Contains(page, `<span class="outcome">`+tc.label+`</span>`) || !strings.Contains(page, `banner tone-`+tc.tone) {
			t.Errorf("outcome %q: page lacks label %q or tone %q", tc.outcome, tc.label, tc.tone)
		}
	}
}

func TestWriteEmptyAndNil(t *testing.T) {
	page := render(t, &runbook.Record{})
	for _, want := range []string{"(not given)", "No phases recorded.", "All 0 events"} {
		if !strings.Contains(page, want) {
			t.Errorf("empty record's page lacks %q", want)
		}
	}
	if err := report.Write(&bytes.Buffer{}, nil); !errors.Is(err, report.ErrNilRecord) {
		t.Errorf("Write(nil) = %v, want ErrNilRecord", err)
	}
}

func TestWriteEscapes(t *testing.T) {
	evil := `<script>alert(1)</script>`
	rec := &runbook.Record{
		Runbook: runbook.Runbook{Service: evil, Changes: evil, Verify: []string{evil}},
		Reason:  evil,
		Entries: []runbook.Entry{{Time: time.Unix(1, 0), Phase: "deploy", Kind: "step", Step: evil, Message: evil,
			Numbers: []runbook.Number{{Metric: evil, Unit: runbook.UnitRate, Requests: 1, Ratio: 1, Lower: 0.5, Upper: 2, Limit: 2, EvidenceBar: 10}}}},
	}
	page := render(t, rec)
	if strings.Contains(page, evil) {
		t.Error("page contains the record's text unescaped")
	}
	if n := strings.Count(page, "<script>"); n != 1 { // the page's own
		t.Errorf("%d <script> elements, want 1", n)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteFails(t *testing.T) {
	boom := errors.New("disk full")
	if err := report.Write(failWriter{boom}, dayRecord()); !errors.Is(err, boom) {
		t.Errorf("Write = %v, want it to wrap %v", err, boom)
	}
}

// A day-long final window: 1,440 intervals of five metrics.
func BenchmarkWriteDay(b *testing.B) {
	rec := dayRecord()
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := report.Write(&buf, rec); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}

// A new error pattern in the logs shows on the page with its template,
// counts and example line.
func TestWritePatterns(t *testing.T) {
	rec := runRecord(t, true)
	at := rec.Started.Add(90 * time.Second)
	rec.Entries = append(rec.Entries, runbook.Entry{Time: at, Phase: "verify", Kind: "pattern", Step: "canary 5%",
		Message: "new error pattern found; holding: this step cannot pass",
		Patterns: []runbook.Pattern{{ID: "7", Template: "checkout degraded: connection pool exhausted for shard <*>", Level: slog.LevelError,
			Example: `{"msg":"checkout degraded","err":"connection pool exhausted for shard 3"}`, NewCount: 12, FirstSeen: at.Add(-30 * time.Second), Found: at}}})
	read := text(render(t, rec))
	want := `new ERROR pattern "checkout degraded: connection pool exhausted for shard <*>": 12 lines from the new version, 0 from the old; first seen `
	if !strings.Contains(read, want) || !strings.Contains(read, `connection pool exhausted for shard 3\"}"`) {
		t.Errorf("page lacks the pattern %q with its example", want)
	}
	if !strings.Contains(read, `class="ev tone-warn"`) {
		t.Error("the pattern's event is not marked")
	}
}
