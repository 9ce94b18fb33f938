package logstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/internal/kit"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// A Line is one log line and the time it was logged.
type Line struct {
	At   time.Time
	Text string
}

// A Harness describes a logs.Source under test and the lines its backend
// is known to hold.
type Harness struct {
	// Source is the implementation under test.
	Source logs.Source
	// Start and End bound a past window [Start, End).
	Start, End time.Time
	// Served is, for each version, every line the backend holds for it
	// in [Start, End). At least one version is required, and at least one
	// of them must have a warning or error line (by logs.Parse). For the
	// IDs check, two versions should log some message alike.
	Served map[string][]Line
	// Missing is a version the backend has nothing for.
	Missing string
}

// Run tests h.Source against the logs.Source contract as subtests of t,
// reporting in each failure what the source returned and what it should
// have. It fails t at once if h itself is invalid.
//
// The subtests check, for each version in h.Served, that the window's
// Lines count every line served and its Patterns count every warning and
// error line once, each pattern well formed (an ID, a template, a
// positive count, a level of at least warning, an example that is one of
// the lines served, a first sighting inside the window), lines with the
// same masked message in the same pattern; that the two halves of the
// window add up to the whole, pattern by pattern; that two versions'
// lines with the same message get the same template ID; that h.Missing
// fails with an error wrapping verify.ErrNoData; that an inverted window
// fails with an error that does not wrap it; and that a cancelled context
// fails with an error wrapping context.Canceled.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatalf("logstest: invalid Harness: %v", err)
	}
	suite(h).Run(t, func(*testing.T) Harness { return h })
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "Served/v1: …". It returns an
// error at once if h itself is invalid. If ctx is done before a check
// starts, Check stops and returns the failures so far together with an
// error that wraps the context's cause.
func Check(ctx context.Context, h Harness) error {
	if err := h.validate(); err != nil {
		return fmt.Errorf("logstest: invalid Harness: %w", err)
	}
	return suite(h).Check(ctx, func() (Harness, error) { return h, nil })
}

func (h Harness) validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if h.Source == nil {
		bad("Source", nil, "must be the logs.Source under test")
	}
	if !h.End.After(h.Start) {
		bad("End", h.End.Format(time.RFC3339Nano), "must be after Start ("+h.Start.Format(time.RFC3339Nano)+")")
	}
	if len(h.Served) == 0 {
		bad("Served", h.Served, "must hold at least one version")
	}
	warn := false
	for v, lines := range h.Served {
		for i, l := range lines {
			if l.At.Before(h.Start) || !l.At.Before(h.End) {
				bad(fmt.Sprintf("Served[%q][%d].At", v, i), l.At.Format(time.RFC3339Nano), "must be in [Start, End)")
			}
			warn = warn || logs.Parse(l.Text).Level >= slog.LevelWarn
		}
	}
	if len(h.Served) > 0 && !warn {
		bad("Served", "(no warning or error line)", "must hold at least one warning or error line")
	}
	if h.Missing == "" {
		bad("Missing", `""`, "must name a version without data")
	} else if _, ok := h.Served[h.Missing]; ok {
		bad("Missing", h.Missing, "must not be in Served")
	}
	return errlist.Join(errs...)
}

// suite returns the checks, in the order they run: those of one version
// for each version in h.Served, then the others. Each is given h and
// reports what it finds wrong to r.
func suite(h Harness) kit.Suite[Harness] {
	versions := slices.Sorted(maps.Keys(h.Served))
	return kit.Suite[Harness]{Kit: "logstest", Checks: slices.Concat(
		kit.Each("Served", versions, checkServed),
		kit.Each("Additive", versions, checkAdditive),
		[]kit.Check[Harness]{
			{Name: "SameIDs", Run: checkSameIDs},
			{Name: "Missing", Run: checkMissing},
			{Name: "InvertedWindow", Run: checkInverted},
			{Name: "CancelledContext", Run: checkCancelled},
		},
	)}
}

func describe(version string, start, end time.Time) string {
	return fmt.Sprintf("Patterns(%s)", verify.Query{Version: version, Start: start, End: end})
}

// maskedKey is a line's message with its tokens masked: lines with the
// same key must share a template.
func maskedKey(text string) string {
	fields := strings.Fields(logs.Parse(text).Message)
	for i, f := range fields {
		fields[i] = logs.Mask(f)
	}
	return strings.Join(fields, " ")
}

func checkServed(ctx context.Context, h Harness, version string, r *kit.Report) {
	call := describe(version, h.Start, h.End)
	got, err := h.Source.Patterns(ctx, verify.Query{Version: version, Start: h.Start, End: h.End})
	if err != nil {
		r.Errorf("%s failed for a version that logged lines: %w", call, err)
		return
	}
	lines := h.Served[version]
	bad := func(format string, args ...any) {
		r.Errorf("%s: "+format, append([]any{call}, args...)...)
	}
	if got.Lines != float64(len(lines)) {
		bad("Lines = %g, want %d (every line served, at every level)", got.Lines, len(lines))
	}
	texts := map[string]bool{}
	warn := 0
	for _, l := range lines {
		texts[l.Text] = true
		if logs.Parse(l.Text).Level >= slog.LevelWarn {
			warn++
		}
	}
	total := 0.0
	ids := map[string]bool{}
	for i, p := range got.Patterns {
		total += p.Count
		switch {
		case p.ID == "":
			bad("Patterns[%d] (%q) has no ID", i, p.Template)
		case ids[p.ID]:
			bad("Patterns[%d] repeats ID %q: each template must be listed once", i, p.ID)
		}
		ids[p.ID] = true
		if p.Template == "" {
			bad("Patterns[%d] (ID %q) has no Template", i, p.ID)
		}
		if !(p.Count > 0) {
			bad("Patterns[%d] (%q) has Count %g, want a positive count", i, p.Template, p.Count)
		}
		if p.Level < slog.LevelWarn {
			bad("Patterns[%d] (%q) has Level %s, want warning or above", i, p.Template, p.Level)
		}
		if !texts[p.Example] {
			bad("Patterns[%d] (%q) has Example %q, which is not one of the lines served", i, p.Template, p.Example)
		}
		if p.FirstSeen.Before(h.Start) || !p.FirstSeen.Before(h.End) {
			bad("Patterns[%d] (%q) was first seen at %s, outside the window", i, p.Template, p.FirstSeen.Format(time.RFC3339Nano))
		}
	}
	if total != float64(warn) {
		bad("the patterns count %g lines, want %d (every warning and error line once)", total, warn)
	}
	// Lines whose masked messages are equal belong to one template: the
	// pattern counts of such a group of lines must be at least its size.
	byKey := map[string]int{}
	for _, l := range lines {
		if logs.Parse(l.Text).Level >= slog.LevelWarn {
			byKey[maskedKey(l.Text)]++
		}
	}
	largest := 0.0
	for _, p := range got.Patterns {
		largest = max(largest, p.Count)
	}
	for k, n := range byKey {
		if float64(n) > largest {
			bad("%d lines have the masked message %q, but no pattern counts that many: they were split", n, k)
		}
	}
}

func checkAdditive(ctx context.Context, h Harness, version string, r *kit.Report) {
	mid := h.Start.Add(h.End.Sub(h.Start) / 2)
	var parts [3]logs.Observation
	for i, w := range [3][2]time.Time{{h.Start, mid}, {mid, h.End}, {h.Start, h.End}} {
		o, err := h.Source.Patterns(ctx, verify.Query{Version: version, Start: w[0], End: w[1]})
		switch {
		case i < 2 && errors.Is(err, verify.ErrNoData):
		case err != nil:
			r.Errorf("%s failed for a version that logged lines: %w", describe(version, w[0], w[1]), err)
			return
		}
		parts[i] = o
	}
	call := fmt.Sprintf("%s + %s, against %s", describe(version, h.Start, mid), describe(version, mid, h.End), describe(version, h.Start, h.End))
	if sum := parts[0].Lines + parts[1].Lines; sum != parts[2].Lines {
		r.Errorf("%s: the halves' Lines add up to %g, the whole's is %g", call, sum, parts[2].Lines)
	}
	// Templates may generalise between calls, but IDs stay: compare counts
	// by ID.
	sum := map[string]float64{}
	for _, half := range parts[:2] {
		for _, p := range half.Patterns {
			sum[p.ID] += p.Count
		}
	}
	whole := map[string]float64{}
	for _, p := range parts[2].Patterns {
		whole[p.ID] += p.Count
	}
	for _, id := range slices.Sorted(maps.Keys(whole)) {
		if sum[id] != whole[id] {
			r.Errorf("%s: template ID %q counts %g in the halves, %g in the whole", call, id, sum[id], whole[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(sum)) {
		if _, ok := whole[id]; !ok {
			r.Errorf("%s: template ID %q counts %g in the halves, but is not in the whole", call, id, sum[id])
		}
	}
}

// checkSameIDs checks that warning and error lines with the same message
// get the same template ID in every version that logged them.
func checkSameIDs(ctx context.Context, h Harness, r *kit.Report) {
	byText := map[string]map[string]string{} // example → version → ID
	for _, v := range slices.Sorted(maps.Keys(h.Served)) {
		o, err := h.Source.Patterns(ctx, verify.Query{Version: v, Start: h.Start, End: h.End})
		if err != nil {
			r.Errorf("%s failed for a version that logged lines: %w", describe(v, h.Start, h.End), err)
			return
		}
		for _, p := range o.Patterns {
			key := maskedKey(p.Example)
			if byText[key] == nil {
				byText[key] = map[string]string{}
			}
			byText[key][v] = p.ID
		}
	}
	for _, key := range slices.Sorted(maps.Keys(byText)) {
		ids := byText[key]
		if len(slices.Compact(slices.Sorted(maps.Values(ids)))) > 1 {
			r.Errorf("lines with the message %q have different template IDs by version: %v; the old and new version's lines of a template must share its ID", key, ids)
		}
	}
}

func checkMissing(ctx context.Context, h Harness, r *kit.Report) {
	call := describe(h.Missing, h.Start, h.End)
	got, err := h.Source.Patterns(ctx, verify.Query{Version: h.Missing, Start: h.Start, End: h.End})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error for a version without data; want an error wrapping verify.ErrNoData", call, got)
	case !errors.Is(err, verify.ErrNoData):
		r.Errorf("%s for a version without data: error %q does not wrap verify.ErrNoData, so callers cannot tell missing data from a failing source", call, err)
	}
}

func checkInverted(ctx context.Context, h Harness, r *kit.Report) {
	version := slices.Min(slices.Collect(maps.Keys(h.Served)))
	call := describe(version, h.End, h.Start)
	got, err := h.Source.Patterns(ctx, verify.Query{Version: version, Start: h.End, End: h.Start})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error for an inverted window; want an error", call, got)
	case errors.Is(err, verify.ErrNoData):
		r.Errorf("%s for an inverted window: error %q wraps verify.ErrNoData; an inverted window is the caller's mistake, not missing data", call, err)
	}
}

func checkCancelled(ctx context.Context, h Harness, r *kit.Report) {
	version := slices.Min(slices.Collect(maps.Keys(h.Served)))
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	call := describe(version, h.Start, h.End)
	got, err := h.Source.Patterns(ctx, verify.Query{Version: version, Start: h.Start, End: h.End})
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil error with a cancelled context; want an error wrapping context.Canceled", call, got)
	case !errors.Is(err, context.Canceled):
		r.Errorf("%s with a cancelled context: error %q does not wrap context.Canceled", call, err)
	}
}
