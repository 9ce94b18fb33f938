package runbook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/runbook"
)

var start = time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)

// at returns the time d after start.
func at(d time.Duration) time.Time { return start.Add(d) }

func fullRunbook() runbook.Runbook {
	return runbook.Runbook{
		Service:      "checkout",
		Version:      "v1.5.0",
		Previous:     "v1.4.0",
		Environment:  "production",
		Strategy:     "canary",
		Date:         time.Date(2025, 3, 1, 15, 0, 0, 0, time.FixedZone("CET", 3600)),
		Engineer:     "Ada Lovelace",
		Changes:      "Adds gift cards at checkout.",
		Why:          "Customers asked for them.",
		Expected:     "A gift card option on the payment page.\nNo change in error rate or latency.",
		Verify:       []string{"error rate at most 2× baseline", "p95 latency at most 1.2× baseline"},
		Rollback:     []string{"Route all traffic to v1.4.0.", "Scale v1.5.0 to zero."},
		RollbackTime: 2 * time.Minute,
	}
}

func fullRecord() *runbook.Record {
	window := func(n runbook.Number) runbook.Number {
		n.Start, n.End, n.Requests = at(30*time.Second), at(2*time.Minute+30*time.Second), 1200
		return n
	}
	return &runbook.Record{
		Runbook:  fullRunbook(),
		Started:  start,
		Finished: at(3 * time.Minute),
		Outcome:  "rolled back",
		Reason:   "error rate above limit at canary 10%",
		Entries: []runbook.Entry{
			{Time: start, Phase: "preflight", Kind: "passed", Message: "baseline captured"},
			{
				Time: at(2*time.Minute + 30*time.Second), Phase: "verify", Kind: "verdict", Step: "canary 10%",
				Message: "new version worse than baseline",
				Error:   "verification fail: error-rate 4.12% above 2.00%",
				Numbers: []runbook.Number{
					window(runbook.Number{Metric: "error-rate", Unit: runbook.UnitRate, Value: 0.0412, Baseline: 0.01, Threshold: 0.02, Failed: true}),
					window(runbook.Number{Metric: "latency-p95", Unit: runbook.UnitSeconds, Value: 0.215, Baseline: 0.2, Threshold: 0.24}),
				},
			},
			{Time: at(3 * time.Minute), Phase: "rollback", Kind: "done", Message: "serving v1.4.0"},
		},
	}
}

const fullRunbookMarkdown = `# Runbook: checkout v1.4.0 → v1.5.0 (production)

## Date/time

2025-03-01T14:00:00Z

## Engineer

Ada Lovelace

## What changes

Adds gift cards at checkout.

## Why

Customers asked for them.

## Expected behaviour

A gift card option on the payment page.

No change in error rate or latency.

## How to verify

- error rate at most 2× baseline
- p95 latency at most 1.2× baseline

## Rollback plan

1. Route all traffic to v1.4.0.
2. Scale v1.5.0 to zero.

## Time to roll back

about 2m0s (estimated before the deployment)

## Strategy

canary
`

func TestRunbookMarkdown(t *testing.T) {
	got := fullRunbook().Markdown()
	if diff := cmp.Diff(fullRunbookMarkdown, got); diff != "" {
		t.Errorf("Markdown mismatch (-want +got):\n%s", diff)
	}
}

func TestRecordMarkdown(t *testing.T) {
	want := `# Record: checkout v1.4.0 → v1.5.0 (production)

- Outcome: rolled back
- Reason: error rate above limit at canary 10%
- Started: 2025-03-01T14:00:00Z
- Finished: 2025-03-01T14:03:00Z
- Duration: 3m0s

` + demote(fullRunbookMarkdown) + `
## Timeline

**+0s** preflight · passed: baseline captured

**+2m30s** verify · verdict · canary 10%: new version worse than baseline — error: verification fail: error-rate 4.12% above 2.00%

| metric | value | baseline | threshold | requests | window | result |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
| error-rate | 4.12% | 1.00% | 2.00% | 1200 | 2m0s | FAILED |
| latency-p95 | 215ms | 200ms | 240ms | 1200 | 2m0s | ok |

**+3m0s** rollback · done: serving v1.4.0
`
	got := fullRecord().Markdown()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Markdown mismatch (-want +got):\n%s", diff)
	}
}

// demote moves every heading of md one level down.
func demote(md string) string {
	var b strings.Builder
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "#") {
			b.WriteString("#")
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestEmptyFieldsShow(t *testing.T) {
	const none = "_(not given)_"
	md := runbook.Runbook{}.Markdown()
	if want := "# Runbook: " + none + " " + none + " → " + none + " (" + none + ")\n"; !strings.HasPrefix(md, want) {
		t.Errorf("title: got %q, want prefix %q", md, want)
	}
	for _, section := range []string{
		"Date/time", "Engineer", "What changes", "Why", "Expected behaviour",
		"How to verify", "Rollback plan", "Time to roll back", "Strategy",
	} {
		if want := "\n## " + section + "\n\n" + none + "\n"; !strings.Contains(md, want) {
			t.Errorf("section %q not shown as empty; want %q in:\n%s", section, want, md)
		}
	}

	rec := (&runbook.Record{}).Markdown()
	for _, want := range []string{
		"- Outcome: " + none + "\n",
		"- Reason: " + none + "\n",
		"- Started: " + none + "\n",
		"- Finished: " + none + "\n",
		"- Duration: " + none + "\n",
		"\n## Timeline\n\n_(no entries)_\n",
	} {
		if !strings.Contains(rec, want) {
			t.Errorf("record: want %q in:\n%s", want, rec)
		}
	}

	// A list with an empty item, an entry with nothing but a time.
	rb := runbook.Runbook{Verify: []string{"", " "}}
	if got, want := rb.Markdown(), "- "+none+"\n- "+none+"\n"; !strings.Contains(got, want) {
		t.Errorf("empty list items: want %q in:\n%s", want, got)
	}
	rec = (&runbook.Record{Started: start, Entries: []runbook.Entry{{Time: start}}}).Markdown()
	if want := "\n**+0s** " + none + " · " + none + ": " + none + "\n"; !strings.Contains(rec, want) {
		t.Errorf("empty entry: want %q in:\n%s", want, rec)
	}
}

func TestMarkdownEscapesUserText(t *testing.T) {
	rb := runbook.Runbook{
		Service:  "a\nb",
		Engineer: "# not a heading",
		Changes:  "- not a list\n\n  ```not a fence\n1. not a list either\n2025 is a year",
		Verify:   []string{"> not a quote", "[not]: a link definition", "two\nlines"},
		Rollback: []string{"1) not nested", "*not* emphasis at the start"},
	}
	rec := &runbook.Record{
		Runbook: rb,
		Started: start,
		Entries: []runbook.Entry{{
			Time: start, Phase: "verify", Kind: "verdict", Message: "a\n# b", Error: "c | d",
			Numbers: []runbook.Number{{Metric: "probe|checkout", Unit: "req|s", Value: 2}},
		}},
	}
	md := rec.Markdown()
	for _, want := range []string{
		"## Runbook: a b _(not given)_ → ",
		"\n### Engineer\n\n\\# not a heading\n",
		"\n\\- not a list\n\n\\```not a fence\n\n1\\. not a list either\n\n2025 is a year\n",
		"\n- \\> not a quote\n- \\[not]: a link definition\n- two lines\n",
		"\n1. 1\\) not nested\n2. \\*not* emphasis at the start\n",
		"\n**+0s** verify · verdict: a # b — error: c | d\n",
		"\n| probe\\|checkout | 2 req\\|s | 0 req\\|s | 0 req\\|s | 0 | _(not given)_ | ok |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("want %q in:\n%s", want, md)
		}
	}
}

func TestNumberFormats(t *testing.T) {
	tests := []struct {
		name string
		n    runbook.Number
		want string
	}{
		{
			name: "rate",
			n:    runbook.Number{Metric: "error-rate", Unit: runbook.UnitRate, Value: 0.0123, Baseline: 0.005, Threshold: 0.01, Requests: 3000, Start: start, End: at(5 * time.Minute), Failed: true},
			want: "| error-rate | 1.23% | 0.50% | 1.00% | 3000 | 5m0s | FAILED |",
		},
		{
			name: "seconds",
			n:    runbook.Number{Metric: "latency-p95", Unit: runbook.UnitSeconds, Value: 0.215, Baseline: 1.5, Threshold: 0.0004, Requests: 99.6, Start: start, End: at(90 * time.Second)},
			want: "| latency-p95 | 215ms | 1.5s | 400µs | 100 | 1m30s | ok |",
		},
		{
			name: "seconds out of range",
			n:    runbook.Number{Metric: "latency-p95", Unit: runbook.UnitSeconds, Value: 1e300, Baseline: 0},
			want: "| latency-p95 | 1e+300s | 0s | 0s | 0 | _(not given)_ | ok |",
		},
		{
			name: "other unit",
			n:    runbook.Number{Metric: "queue", Unit: "jobs", Value: 12.5, Baseline: 3, Threshold: 20},
			want: "| queue | 12.5 jobs | 3 jobs | 20 jobs | 0 | _(not given)_ | ok |",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &runbook.Record{Entries: []runbook.Entry{{Numbers: []runbook.Number{tt.n}}}}
			if md := rec.Markdown(); !strings.Contains(md, "\n"+tt.want+"\n") {
				t.Errorf("want row %q in:\n%s", tt.want, md)
			}
		})
	}
}

func TestTimelineTimes(t *testing.T) {
	tests := []struct {
		name    string
		started time.Time
		at      time.Time
		want    string
	}{
		{"at start", start, start, "+0s"},
		{"minutes", start, at(2*time.Minute + 30*time.Second), "+2m30s"},
		{"rounded to the millisecond", start, at(150*time.Millisecond + 400*time.Microsecond), "+150ms"},
		{"before start", start, at(-time.Second), "-1s"},
		{"no start", time.Time{}, time.Date(2025, 3, 1, 15, 0, 0, 0, time.FixedZone("CET", 3600)), "2025-03-01T14:00:00Z"},
		{"no time", start, time.Time{}, "_(not given)_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &runbook.Record{Started: tt.started, Entries: []runbook.Entry{{Time: tt.at, Phase: "deploy", Kind: "step"}}}
			if want := "\n**" + tt.want + "** deploy · step: "; !strings.Contains(rec.Markdown(), want) {
				t.Errorf("want %q in:\n%s", want, rec.Markdown())
			}
		})
	}
}

func TestTimeToRollBack(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "_(not given)_"},
		{300 * time.Millisecond, "about 300ms (estimated before the deployment)"},
		{4600 * time.Millisecond, "about 5s (estimated before the deployment)"},
		{2 * time.Minute, "about 2m0s (estimated before the deployment)"},
	}
	for _, tt := range tests {
		md := runbook.Runbook{RollbackTime: tt.d}.Markdown()
		if want := "\n## Time to roll back\n\n" + tt.want + "\n"; !strings.Contains(md, want) {
			t.Errorf("RollbackTime %v: want %q in:\n%s", tt.d, want, md)
		}
	}
}

func TestNumbersWithEvidence(t *testing.T) {
	rec := &runbook.Record{Started: start, Entries: []runbook.Entry{{Time: start, Phase: "verify", Kind: "verdict", Message: "fail", Numbers: []runbook.Number{{
		Metric: "latency-p95", Unit: runbook.UnitRate, Above: 0.1, Value: 0.2, Baseline: 0.05, Threshold: 0.1,
		Ratio: 4, Lower: 2.83, Upper: 5.66, Limit: 2, Evidence: 312, EvidenceBar: 100, Requests: 1200, Failed: true,
		Start: start, End: start.Add(time.Minute),
	}}}}}
	md := rec.Markdown()
	for _, want := range []string{
		"| metric | value | baseline | threshold | ratio [interval] | limit | evidence | bar | requests | window | result |\n",
		"| latency-p95 (share over 100ms) | 20.00% | 5.00% | 10.00% | 4 [2.83, 5.66] | 2 | 312 | 100 | 1200 | 1m0s | FAILED |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("record markdown lacks %q:\n%s", want, md)
		}
	}
}
