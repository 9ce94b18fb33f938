package runbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// notGiven stands in for an empty field, so that a gap shows on the page.
const notGiven = "_(not given)_"

// Markdown renders the runbook as a Markdown page: a title naming the change,
// one section for each of the template's eight fields in the template's
// order, then the strategy. An empty field reads "_(not given)_" rather than
// disappearing.
//
// Text is taken as plain text, not Markdown: each line of Changes, Why and
// Expected becomes a paragraph, other fields are joined onto one line, and
// a line that Markdown would read as structure (a heading, a list item, a
// code fence…) is escaped. Markdown never fails.
func (r Runbook) Markdown() string {
	var b strings.Builder
	r.write(&b, 1)
	return b.String()
}

// write renders the runbook with its title at heading level and its
// sections one level below.
func (r Runbook) write(b *strings.Builder, level int) {
	h := strings.Repeat("#", level)
	fmt.Fprintf(b, "%s Runbook: %s\n", h, r.change())
	section := func(title, body string) {
		fmt.Fprintf(b, "\n%s# %s\n\n%s\n", h, title, body)
	}
	section("Date/time", stamp(r.Date))
	section("Engineer", line(r.Engineer))
	section("What changes", paragraphs(r.Changes))
	section("Why", paragraphs(r.Why))
	section("Expected behaviour", paragraphs(r.Expected))
	section("How to verify", list(r.Verify, bullet))
	section("Rollback plan", list(r.Rollback, numbered))
	section("Time to roll back", about(r.RollbackTime))
	section("Strategy", line(r.Strategy))
}

// change names the change for a title: "checkout v1.4.0 → v1.5.0 (production)".
func (r Runbook) change() string {
	return fmt.Sprintf("%s %s → %s (%s)",
		text(r.Service), text(r.Previous), text(r.Version), text(r.Environment))
}

// Markdown renders the record of a run as a Markdown page: the outcome and
// its reason, when the run started and finished, the runbook it followed
// (as Runbook.Markdown renders it, one heading level down) and a timeline
// with one paragraph per entry, timed relative to Started to the
// millisecond ("+2m30s"), or in RFC 3339 if Started is zero. An entry with
// Numbers is followed by a table of them, and one with Patterns by a list
// of them; an entry's error follows its message. Text is escaped as for Runbook.Markdown, and pipes in table cells
// are escaped. r must not be nil. Markdown never fails.
func (r *Record) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Record: %s\n\n", r.Runbook.change())
	fmt.Fprintf(&b, "- Outcome: %s\n", text(strings.ReplaceAll(r.Outcome, "_", " ")))
	fmt.Fprintf(&b, "- Reason: %s\n", text(r.Reason))
	fmt.Fprintf(&b, "- Started: %s\n", stamp(r.Started))
	fmt.Fprintf(&b, "- Finished: %s\n", stamp(r.Finished))
	fmt.Fprintf(&b, "- Duration: %s\n", elapsed(r.Started, r.Finished))
	if r.RollbackSeconds > 0 {
		fmt.Fprintf(&b, "- Time to roll back, measured: %s\n", time.Duration(r.RollbackSeconds*float64(time.Second)).Round(time.Microsecond))
	}
	b.WriteString("\n")
	r.Runbook.write(&b, 2)

	b.WriteString("\n## Timeline\n")
	if len(r.Entries) == 0 {
		b.WriteString("\n_(no entries)_\n")
	}
	for _, e := range r.Entries {
		fmt.Fprintf(&b, "\n%s\n", e.summary(r.Started))
		if len(e.Numbers) > 0 {
			b.WriteString("\n")
			writeNumbers(&b, e.Numbers)
		}
		if len(e.Patterns) > 0 {
			b.WriteString("\n")
			for _, p := range e.Patterns {
				fmt.Fprintf(&b, "- %s\n", p.summary())
			}
		}
	}
	return b.String()
}

// summary renders the pattern as one line: `new ERROR pattern "checkout
// degraded: <*>": 12 lines from the new version, 0 from the old; first
// seen 2026-12-03T12:03:04Z; e.g. "…"`.
func (p Pattern) summary() string {
	return fmt.Sprintf("new %s pattern %s: %.0f lines from the new version, %.0f from the old; first seen %s; e.g. %s",
		text(p.Level.String()), text(strconv.Quote(p.Template)), p.NewCount, p.OldCount, stamp(p.FirstSeen), text(strconv.Quote(p.Example)))
}

// summary renders the entry as one line, timed relative to start:
// "**+2m30s** verify · verdict · canary 10%: message — error: cause".
func (e Entry) summary(start time.Time) string {
	s := fmt.Sprintf("**%s** %s · %s", offset(start, e.Time), text(e.Phase), text(e.Kind))
	if e.Step != "" {
		s += " · " + text(e.Step)
	}
	s += ": " + text(e.Message)
	if e.Error != "" {
		s += " — error: " + text(e.Error)
	}
	return s
}

// writeNumbers renders numbers as a table, one row each, with the ratio and
// evidence columns when a judge reported them.
func writeNumbers(b *strings.Builder, numbers []Number) {
	weighed := false
	for _, n := range numbers {
		weighed = weighed || n.EvidenceBar > 0
	}
	if weighed {
		b.WriteString("| metric | value | baseline | threshold | ratio [interval] | limit | evidence | bar | requests | window | result |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	} else {
		b.WriteString("| metric | value | baseline | threshold | requests | window | result |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	}
	for _, n := range numbers {
		result := "ok"
		if n.Failed {
			result = "FAILED"
		}
		metric := n.Metric
		if n.Above > 0 {
			metric += fmt.Sprintf(" (share over %s)", Number{Unit: UnitSeconds}.format(n.Above))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | ", cell(metric), n.format(n.Value), n.format(n.Baseline), n.format(n.Threshold))
		if weighed {
			fmt.Fprintf(b, "%.3g [%.3g, %.3g] | %.3g | %.3g | %.3g | ", n.Ratio, n.Lower, n.Upper, n.Limit, n.Evidence, n.EvidenceBar)
		}
		fmt.Fprintf(b, "%.0f | %s | %s |\n", n.Requests, elapsed(n.Start, n.End), result)
	}
}

// format renders v in the number's unit: a rate as a percentage ("1.23%"),
// seconds as a duration ("215ms"), anything else as a plain number followed
// by its unit.
func (n Number) format(v float64) string {
	switch n.Unit {
	case UnitRate:
		return fmt.Sprintf("%.2f%%", 100*v)
	case UnitSeconds:
		// NaN fails the comparison too, and prints as "NaNs".
		if ns := v * float64(time.Second); math.Abs(ns) < math.MaxInt64 {
			return time.Duration(ns).Round(time.Microsecond).String()
		}
		return strconv.FormatFloat(v, 'g', -1, 64) + "s"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if n.Unit != "" {
		s += " " + cell(n.Unit)
	}
	return s
}

// stamp formats t in RFC 3339, in UTC.
func stamp(t time.Time) string {
	if t.IsZero() {
		return notGiven
	}
	return t.UTC().Format(time.RFC3339)
}

// elapsed formats the time from start to end, to the millisecond.
func elapsed(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return notGiven
	}
	return end.Sub(start).Round(time.Millisecond).String()
}

// offset formats t relative to start: "+2m30s". Without a start it falls
// back to t itself.
func offset(start, t time.Time) string {
	if start.IsZero() || t.IsZero() {
		return stamp(t)
	}
	d := t.Sub(start).Round(time.Millisecond)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// about formats an estimate: "about 2m0s", to the second once it is one.
func about(d time.Duration) string {
	if d == 0 {
		return notGiven
	}
	if d >= time.Second {
		d = d.Round(time.Second)
	}
	return "about " + d.String() + " (estimated before the deployment)"
}

// text joins s onto one line, so that it cannot end the line it is
// written into.
func text(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return notGiven
	}
	return s
}

// line is text for the start of a line, escaped so that Markdown does not
// read it as a heading, list item, quote, fence, HTML or link definition.
func line(s string) string {
	s = text(s)
	if s == notGiven {
		return s
	}
	if strings.ContainsRune("#>-+*_`~<[", rune(s[0])) {
		return `\` + s
	}
	// "1. " and "1) " start an ordered list: escape the punctuation.
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits > 0 && digits < len(s) && (s[digits] == '.' || s[digits] == ')') {
		return s[:digits] + `\` + s[digits:]
	}
	return s
}

// paragraphs renders each non-blank line of s as a paragraph.
func paragraphs(s string) string {
	var ps []string
	for ln := range strings.Lines(s) {
		if strings.TrimSpace(ln) != "" {
			ps = append(ps, line(ln))
		}
	}
	if len(ps) == 0 {
		return notGiven
	}
	return strings.Join(ps, "\n\n")
}

// cell is text for a table cell: one line, with pipes escaped.
func cell(s string) string {
	return strings.ReplaceAll(text(s), "|", `\|`)
}

// list renders items as a Markdown list, the ith marked by mark(i).
func list(items []string, mark func(i int) string) string {
	if len(items) == 0 {
		return notGiven
	}
	lines := make([]string, len(items))
	for i, item := range items {
		lines[i] = mark(i) + " " + line(item)
	}
	return strings.Join(lines, "\n")
}

func bullet(int) string     { return "-" }
func numbered(i int) string { return strconv.Itoa(i+1) + "." }
