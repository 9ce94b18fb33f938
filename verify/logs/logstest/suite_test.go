package logstest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
	"github.com/safedeploy/safedeploy/verify/logs/logstest"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// served returns lines for two versions over a minute: info lines, an
// error both versions log, and one only v2 logs.
func served() map[string][]logstest.Line {
	out := map[string][]logstest.Line{}
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Second)
		for _, v := range []string{"v1", "v2"} {
			out[v] = append(out[v], logstest.Line{At: at, Text: fmt.Sprintf(`{"level":"INFO","msg":"request served","id":%d}`, i)})
			if i%10 == 0 {
				out[v] = append(out[v], logstest.Line{At: at.Add(time.Millisecond), Text: fmt.Sprintf(`{"level":"ERROR","msg":"request failed","err":"upstream timeout after %dms"}`, 100+i)})
			}
		}
		if i%15 == 3 {
			out["v2"] = append(out["v2"], logstest.Line{At: at.Add(2 * time.Millisecond), Text: fmt.Sprintf(`{"level":"ERROR","msg":"checkout failed","err":"connection pool exhausted for shard %d"}`, i%7)})
		}
	}
	return out
}

func collector(lines map[string][]logstest.Line) *logs.Collector {
	c := &logs.Collector{}
	for v, ls := range lines {
		for _, l := range ls {
			c.Add(v, l.At, l.Text)
		}
	}
	return c
}

func TestCollectorConforms(t *testing.T) {
	lines := served()
	logstest.Run(t, logstest.Harness{Source: collector(lines), Start: start, End: start.Add(time.Minute), Served: lines, Missing: "v0"})
}

// TestCheckFindsBrokenSources checks that the suite fails sources that
// break the contract, each for the right reason.
func TestCheckFindsBrokenSources(t *testing.T) {
	lines := served()
	good := collector(lines)
	cases := []struct {
		name   string
		source logs.SourceFunc
		want   string
	}{
		{"zero for missing", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			if q.Version == "v0" {
				return logs.Observation{}, nil
			}
			return good.Patterns(ctx, q)
		}, "Missing"},
		{"lines dropped", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			o, err := good.Patterns(ctx, q)
			o.Lines--
			return o, err
		}, "Lines ="},
		{"ids by version", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			o, err := good.Patterns(ctx, q)
			for i := range o.Patterns {
				o.Patterns[i].ID = q.Version + o.Patterns[i].ID
			}
			return o, err
		}, "different template IDs"},
		{"ignores context", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			return good.Patterns(context.Background(), q)
		}, "context.Canceled"},
		{"info reported", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			o, err := good.Patterns(ctx, q)
			if len(o.Patterns) > 0 {
				o.Patterns[0].Level = slog.LevelInfo
			}
			return o, err
		}, "want warning or above"},
		{"lines dropped and info reported", func(ctx context.Context, q verify.Query) (logs.Observation, error) {
			o, err := good.Patterns(ctx, q)
			o.Lines--
			if len(o.Patterns) > 0 {
				o.Patterns[0].Level = slog.LevelInfo
			}
			return o, err
		}, `Served/v1: Patterns("v1" over [2025-03-01T12:00:00Z, 2025-03-01T12:01:00Z)): Patterns[0]`},
	}
	checkName := regexp.MustCompile(`^(Served/v[12]|Additive/v[12]|SameIDs|Missing|InvertedWindow|CancelledContext): `)
	for _, c := range cases {
		err := logstest.Check(t.Context(), logstest.Harness{Source: c.source, Start: start, End: start.Add(time.Minute), Served: lines, Missing: "v0"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want an error mentioning %q", c.name, err, c.want)
			continue
		}
		for line := range strings.Lines(err.Error()) {
			if !checkName.MatchString(line) {
				t.Errorf("%s: Check's line %q does not begin with the name of its check", c.name, line)
			}
		}
	}
	if err := logstest.Check(t.Context(), logstest.Harness{Source: good, Start: start, End: start.Add(time.Minute), Served: lines, Missing: "v0"}); err != nil {
		t.Errorf("Check on the collector = %v, want nil", err)
	}
}

// TestCheckStops checks that Check stops when its context is done, saying
// which check it did not start and why, rather than failing every check.
func TestCheckStops(t *testing.T) {
	lines := served()
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("shutting down")
	cancel(cause)
	err := logstest.Check(ctx, logstest.Harness{Source: collector(lines), Start: start, End: start.Add(time.Minute), Served: lines, Missing: "v0"})
	if !errors.Is(err, cause) || err.Error() != "logstest: stopped before Served/v1: shutting down" {
		t.Errorf("Check with a cancelled context = %v, want it to stop before Served/v1 with the cause", err)
	}
}

func TestHarnessValidation(t *testing.T) {
	err := logstest.Check(t.Context(), logstest.Harness{End: start, Start: start, Missing: ""})
	for _, want := range []string{"Source", "End", "Served", "Missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(invalid harness) = %v, want it to name %s", err, want)
		}
	}
}

func TestScript(t *testing.T) {
	boom := errors.New("store down")
	s := logstest.Script{
		"v1": {{LinesPerSecond: 10, Patterns: []logstest.Rate{{Template: "timeout <*>", Level: slog.LevelError, PerSecond: 0.5}}}},
		"v2": {
			{At: start, LinesPerSecond: 10, Patterns: []logstest.Rate{{Template: "timeout <*>", Level: slog.LevelError, PerSecond: 0.5}}},
			{At: start.Add(time.Minute), LinesPerSecond: 10, Patterns: []logstest.Rate{
				{Template: "timeout <*>", Level: slog.LevelError, PerSecond: 0.5},
				{Template: "pool exhausted <*>", Level: slog.LevelError, PerSecond: 0.1, Example: "pool exhausted 7"},
			}},
			{At: start.Add(2 * time.Minute), Gap: true},
			{At: start.Add(3 * time.Minute), Err: boom},
		},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := s.Patterns(t.Context(), verify.Query{Version: "v2", Start: start.Add(30 * time.Second), End: start.Add(150 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if o.Lines != 900 || len(o.Patterns) != 2 || o.Patterns[0].Count != 45 || o.Patterns[1].Count != 6 ||
		o.Patterns[1].Example != "pool exhausted 7" || !o.Patterns[1].FirstSeen.Equal(start.Add(time.Minute)) {
		t.Errorf("Patterns = %+v; want 900 lines, 45 timeouts, 6 pool exhaustions first seen a minute in", o)
	}
	if _, err := s.Patterns(t.Context(), verify.Query{Version: "v2", Start: start.Add(3 * time.Minute), End: start.Add(4 * time.Minute)}); !errors.Is(err, boom) {
		t.Errorf("over the failing segment: %v, want %v", err, boom)
	}
	if _, err := s.Patterns(t.Context(), verify.Query{Version: "v2", Start: start.Add(2 * time.Minute), End: start.Add(3 * time.Minute)}); !errors.Is(err, verify.ErrNoData) {
		t.Errorf("over the gap: %v, want ErrNoData", err)
	}
	bad := logstest.Script{"v1": {{LinesPerSecond: 1, Patterns: []logstest.Rate{{Template: "x", PerSecond: 2}}}}}
	err = bad.Validate()
	for _, want := range []string{"Level", "LinesPerSecond"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}
