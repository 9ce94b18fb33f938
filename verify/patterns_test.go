package verify_test

import (
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/verify"
)

func TestPatternPolicyApply(t *testing.T) {
	since := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	found := func(at time.Time) verify.PatternFinding {
		return verify.PatternFinding{ID: "7", Template: "pool exhausted for shard <*>", Level: slog.LevelError,
			NewCount: 12, OldCount: 0, NewExposure: 1000, OldExposure: 9000, Found: at}
	}
	fresh, earlier := found(since.Add(time.Minute)), found(since)
	pass := verify.Verdict{Outcome: verify.Pass, Reason: "no limit crossed"}
	cont := verify.Verdict{Outcome: verify.Continue, Reason: "no limit crossed"}
	fail := verify.Verdict{Outcome: verify.Fail, Reason: "error-rate FAILED"}
	for _, c := range []struct {
		name   string
		action verify.PatternAction
		v      verify.Verdict
		found  []verify.PatternFinding
		want   verify.Outcome
		reason []string // substrings of the reason
	}{
		{"none", verify.PatternHold, pass, nil, verify.Pass, []string{"no limit crossed"}},
		{"hold turns a pass inconclusive", verify.PatternHold, pass, []verify.PatternFinding{fresh}, verify.Inconclusive,
			[]string{"held for a person", `new error pattern "pool exhausted for shard <*>" (12 lines from the new version, 0 from the old)`, "no limit crossed"}},
		{"hold keeps observing", verify.PatternHold, cont, []verify.PatternFinding{fresh}, verify.Continue, []string{"no limit crossed"}},
		{"hold does not hold twice", verify.PatternHold, pass, []verify.PatternFinding{earlier}, verify.Pass, []string{"no limit crossed"}},
		{"hold adds to a failure", verify.PatternHold, fail, []verify.PatternFinding{fresh}, verify.Fail, []string{"error-rate FAILED", "pool exhausted"}},
		{"rollback fails a continue", verify.PatternRollback, cont, []verify.PatternFinding{fresh}, verify.Fail, []string{"new error pattern"}},
		{"rollback fails a pass", verify.PatternRollback, pass, []verify.PatternFinding{earlier}, verify.Fail, []string{"new error pattern"}},
		{"report passes", verify.PatternReport, pass, []verify.PatternFinding{fresh}, verify.Pass, []string{"no limit crossed", "reported, not judged"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := verify.PatternPolicy{Action: c.action}.Apply(c.v, c.found, since)
			if got.Outcome != c.want {
				t.Errorf("outcome %v, want %v (%s)", got.Outcome, c.want, got.Reason)
			}
			for _, s := range c.reason {
				if !strings.Contains(got.Reason, s) {
					t.Errorf("reason %q lacks %q", got.Reason, s)
				}
			}
			if diff := cmp.Diff(c.found, got.Patterns); len(c.found) > 0 && diff != "" {
				t.Errorf("patterns (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPatternPolicyValidate(t *testing.T) {
	if err := (verify.PatternPolicy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
	err := verify.Policy{Patterns: verify.PatternPolicy{MaxRatio: 0.5, Alpha: 2, MinCount: math.Inf(1), Templates: -3, Action: 7}}.Validate()
	for _, want := range []string{"Patterns.MaxRatio = 0.5", "Patterns.Alpha = 2", "Patterns.MinCount = +Inf", "Patterns.Templates = -3", "Patterns.Action = Action(7)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %q", err, want)
		}
	}
	d := verify.PatternPolicy{}.WithDefaults()
	if d.Level.Level() != slog.LevelWarn || d.MaxRatio != 2 || d.Alpha != 0.01 || d.MinCount != 3 || d.Templates != 100 || d.Action != verify.PatternHold {
		t.Errorf("defaults %+v", d)
	}
}

func TestLogObservationValidate(t *testing.T) {
	ok := verify.LogObservation{Lines: 10, Patterns: []verify.LogPattern{{ID: "1", Count: 2}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid observation: %v", err)
	}
	bad := verify.LogObservation{Lines: math.NaN(), Patterns: []verify.LogPattern{{ID: "", Count: -1}}}
	err := bad.Validate()
	for _, want := range []string{"Lines = NaN", "Patterns[0].Count = -1", `Patterns[0].ID = ""`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %q", err, want)
		}
	}
}

func TestVerdictPatternsJSON(t *testing.T) {
	v := verify.Verdict{Outcome: verify.Inconclusive, Reason: "held", Patterns: []verify.PatternFinding{{
		ID: "7", Template: "pool exhausted for shard <*>", Level: slog.LevelError, NewCount: 12,
		FirstSeen: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"patterns":[{`, `"template":"pool exhausted for shard \u003c*\u003e"`, `"level":"ERROR"`, `"new_count":12`, `"first_seen":"2026-12-03T12:00:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	b, _ = json.Marshal(verify.Verdict{Outcome: verify.Pass})
	if strings.Contains(string(b), "patterns") {
		t.Errorf("a verdict without patterns writes them: %s", b)
	}
}
