package logstest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// A Rate is one template a version logs at a steady rate during a Segment.
type Rate struct {
	// Template is the template's text; it is also its ID.
	Template string
	// Level is its lines' level; zero is slog.LevelInfo, which no Source
	// reports: set slog.LevelWarn or above.
	Level slog.Level
	// PerSecond is how many lines of it are logged per second.
	PerSecond float64
	// Example is the line reported as its example; empty means the
	// template itself.
	Example string
}

// A Segment is one stretch of a version's timeline. It starts At and lasts
// until the next segment of the same version starts; the last one lasts
// for ever. During a segment the version logs LinesPerSecond lines in all
// and each of Patterns at its rate, unless Err or Gap says its logs cannot
// be read.
type Segment struct {
	// At is when the segment starts. The zero time is the beginning of time.
	At time.Time
	// LinesPerSecond counts every line, at every level.
	LinesPerSecond float64
	// Patterns are the templates logged at or above the warning level.
	Patterns []Rate
	// Err, if set, makes Patterns fail with an error wrapping Err for any
	// window that overlaps the segment: the log store is down.
	Err error
	// Gap, if set, means nothing was collected during the segment.
	Gap bool
}

// A Script is a scripted logs.Source for tests of code that reads logs
// (a judge, a deploy gate): for each version, its segments in order of At.
// Patterns integrates the segments' steady rates exactly over the window
// asked about, so counts are fractional. A template's ID is its text.
//
// A Script is read-only once built, so it is safe for concurrent use and
// the same query always gets the same answer.
type Script map[string][]Segment

// Patterns implements logs.Source. It fails with an error wrapping ctx's
// if ctx is done; with a plain error if the window is empty or inverted or
// the version's segments are invalid ([Script.Validate]); with an error
// wrapping a segment's Err if the window overlaps it; and with an error
// wrapping verify.ErrNoData if the version is not in the script or the
// window lies wholly in gaps or before its first segment.
func (s Script) Patterns(ctx context.Context, q verify.Query) (logs.Observation, error) {
	if err := ctx.Err(); err != nil {
		return logs.Observation{}, fmt.Errorf("logstest: patterns of %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return logs.Observation{}, fmt.Errorf("logstest: patterns of %s: empty or inverted window", q)
	}
	segs := s[q.Version]
	if len(segs) == 0 {
		return logs.Observation{}, fmt.Errorf("logstest: version %q is not in the script: %w", q.Version, verify.ErrNoData)
	}
	if errs := validate(q.Version, segs); len(errs) > 0 {
		return logs.Observation{}, fmt.Errorf("logstest: invalid script: %w", errlist.Join(errs...))
	}
	var obs logs.Observation
	covered := false
	byID := map[string]int{}
	for i, seg := range segs {
		from, to := seg.At, q.End
		if from.Before(q.Start) {
			from = q.Start
		}
		if i+1 < len(segs) && segs[i+1].At.Before(to) {
			to = segs[i+1].At
		}
		if !to.After(from) {
			continue
		}
		switch {
		case seg.Err != nil:
			return logs.Observation{}, fmt.Errorf("logstest: patterns of %s: %w", q, seg.Err)
		case seg.Gap:
			continue
		}
		covered = true
		d := to.Sub(from).Seconds()
		obs.Lines += seg.LinesPerSecond * d
		for _, r := range seg.Patterns {
			if r.PerSecond == 0 {
				continue
			}
			k, ok := byID[r.Template]
			if !ok {
				k = len(obs.Patterns)
				byID[r.Template] = k
				ex := r.Example
				if ex == "" {
					ex = r.Template
				}
				obs.Patterns = append(obs.Patterns, logs.Pattern{ID: r.Template, Template: r.Template, Level: r.Level, Example: ex, FirstSeen: from})
			}
			p := &obs.Patterns[k]
			p.Count += r.PerSecond * d
			p.Level = max(p.Level, r.Level)
		}
	}
	if !covered {
		return logs.Observation{}, fmt.Errorf("logstest: version %s: only gaps: %w", q, verify.ErrNoData)
	}
	return obs, nil
}

// Validate returns one error listing every invalid segment field, with its
// value, of every version, or nil.
func (s Script) Validate() error {
	var errs []error
	for _, v := range slices.Sorted(maps.Keys(s)) {
		errs = append(errs, validate(v, s[v])...)
	}
	return errlist.Join(errs...)
}

func validate(version string, segs []Segment) []error {
	var errs []error
	bad := func(i int, field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("Script[%q][%d].%s = %v: %s", version, i, field, value, problem))
	}
	rate := func(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }
	for i, seg := range segs {
		if i > 0 && !seg.At.After(segs[i-1].At) {
			bad(i, "At", seg.At.Format(time.RFC3339Nano), fmt.Sprintf("must be after segment %d's (%s)", i-1, segs[i-1].At.Format(time.RFC3339Nano)))
		}
		if !rate(seg.LinesPerSecond) {
			bad(i, "LinesPerSecond", seg.LinesPerSecond, "must be a finite rate, at least 0")
		}
		sum := 0.0
		seen := map[string]bool{}
		for j, r := range seg.Patterns {
			field := fmt.Sprintf("Patterns[%d]", j)
			switch {
			case r.Template == "":
				bad(i, field+".Template", `""`, "must name the template")
			case seen[r.Template]:
				bad(i, field+".Template", r.Template, "must not repeat a template of the segment")
			}
			seen[r.Template] = true
			if !rate(r.PerSecond) {
				bad(i, field+".PerSecond", r.PerSecond, "must be a finite rate, at least 0")
			}
			if r.Level < slog.LevelWarn {
				bad(i, field+".Level", r.Level, "must be slog.LevelWarn or above: sources report warnings and errors")
			}
			sum += r.PerSecond
		}
		if sum > seg.LinesPerSecond*(1+1e-9) {
			bad(i, "LinesPerSecond", seg.LinesPerSecond, fmt.Sprintf("must count every line, at least the patterns' %g per second", sum))
		}
		if seg.Err != nil && seg.Gap {
			bad(i, "Gap", seg.Gap, "must be false when Err is set: a segment is a failure or a gap, not both")
		}
	}
	return errs
}
