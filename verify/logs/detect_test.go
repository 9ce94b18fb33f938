package logs

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/randx"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sample makes a Sample of exposure e with the given template counts.
func sample(e float64, counts map[string]float64, at time.Time) Sample {
	s := Sample{Exposure: e, Observation: Observation{Lines: e}}
	for tmpl, n := range counts {
		if n > 0 {
			s.Patterns = append(s.Patterns, Pattern{ID: tmpl, Template: tmpl, Level: slog.LevelError, Count: n, Example: tmpl + " (example)", FirstSeen: at})
		}
	}
	return s
}

func TestDetectorFindsNewPatternWithControl(t *testing.T) {
	d, err := NewDetector(Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 5% canary: 50 requests a minute against 950; both log timeouts at
	// 1%, only the new version logs the pool error, at 1 in 20 requests.
	var found []Finding
	minute := 0
	for ; minute < 30 && len(found) == 0; minute++ {
		at := t0.Add(time.Duration(minute) * time.Minute)
		old := sample(950, map[string]float64{"timeout": 9.5}, at)
		found = d.Observe(Interval{Start: at, End: at.Add(time.Minute),
			New: sample(50, map[string]float64{"timeout": 0.5, "pool exhausted": 2.5}, at), Old: &old})
	}
	if len(found) != 1 || found[0].Template != "pool exhausted" {
		t.Fatalf("findings after %d minutes: %v, want the pool error", minute, found)
	}
	f := found[0]
	if f.OldCount != 0 || f.NewCount < DefaultMinCount || !f.FirstSeen.Equal(t0) || f.Example != "pool exhausted (example)" || f.Evidence < f.EvidenceBar {
		t.Errorf("finding %+v: want no old lines, at least %d new, first seen at the start, the example and evidence past the bar", f, DefaultMinCount)
	}
	if minute > 3 {
		t.Errorf("took %d minutes (%g lines) to find a pattern the old version never logs", minute, f.NewCount)
	}
	if s := f.String(); !strings.Contains(s, `"pool exhausted"`) || !strings.Contains(s, "lines from the new version") {
		t.Errorf("String() = %q", s)
	}
}

// Lines logged in an interval whose requests are not counted yet (metrics
// scraped later than logs are read) have no exposure to be weighed against:
// they are reported in the counts but are no evidence, however many.
func TestDetectorLinesWithoutExposure(t *testing.T) {
	base := sample(15000, map[string]float64{"timeout": 150}, t0)
	d, err := NewDetector(Policy{}, &base)
	if err != nil {
		t.Fatal(err)
	}
	for minute := range 5 {
		at := t0.Add(time.Duration(minute) * time.Minute)
		// The baseline's timeout rate from the third minute on; in the
		// first two, lines whose requests the metrics have not counted.
		e, n := 1000.0, 10.0
		if minute < 2 {
			e, n = 0, 60
		}
		if found := d.Observe(Interval{Start: at, End: at.Add(time.Minute), New: sample(e, map[string]float64{"timeout": n}, at)}); len(found) != 0 {
			t.Fatalf("minute %d: findings %+v for a template logged at the baseline's rate", minute, found)
		}
	}
}

func TestDetectorBaselineMode(t *testing.T) {
	base := sample(15000, map[string]float64{"timeout": 150, "rare": 1}, t0)
	d, err := NewDetector(Policy{}, &base)
	if err != nil {
		t.Fatal(err)
	}
	var found []Finding
	for minute := range 10 {
		at := t0.Add(time.Duration(minute) * time.Minute)
		// The same timeout rate as before; "rare" at the baseline's rate;
		// a new error at 1%.
		found = d.Observe(Interval{Start: at, End: at.Add(time.Minute),
			New: sample(1000, map[string]float64{"timeout": 10, "rare": 0.07, "brand new": 10}, at)})
	}
	if len(found) != 1 || found[0].Template != "brand new" || found[0].OldExposure != 15000 {
		t.Errorf("findings against the baseline: %+v; want only the brand new one, against the baseline's exposure", found)
	}
}

func TestDetectorMinCount(t *testing.T) {
	d, _ := NewDetector(Policy{MinCount: 10}, nil)
	old := sample(99000, nil, t0)
	got := d.Observe(Interval{New: sample(1000, map[string]float64{"x": 9}, t0), Old: &old})
	if len(got) != 0 {
		t.Errorf("9 lines with MinCount 10: %v", got)
	}
	got = d.Observe(Interval{New: sample(1000, map[string]float64{"x": 1}, t0), Old: &old})
	if len(got) != 1 {
		t.Errorf("10 lines with MinCount 10, none from a version with 99× the traffic: %v", got)
	}
}

func TestDetectorIgnoresInfo(t *testing.T) {
	d, _ := NewDetector(Policy{}, nil)
	old := sample(1000, nil, t0)
	s := sample(1000, map[string]float64{"hello": 500}, t0)
	s.Patterns[0].Level = slog.LevelInfo
	if got := d.Observe(Interval{New: s, Old: &old}); len(got) != 0 {
		t.Errorf("an info template was reported: %v", got)
	}
}

func TestPolicyValidate(t *testing.T) {
	err := Policy{MaxRatio: 0.5, Alpha: 2, MinCount: -1, Templates: -3, Action: 7}.Validate()
	for _, want := range []string{"MaxRatio = 0.5", "Alpha = 2", "MinCount = -1", "Templates = -3", "Action = Action(7)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if err == nil || !strings.HasPrefix(err.Error(), "5 problem(s):\n\t* ") {
		t.Errorf("Validate() = %v, want the library's list format", err)
	}
	if _, err := NewDetector(Policy{Alpha: 2}, nil); err == nil {
		t.Error("NewDetector accepted Alpha 2")
	}
	if err := (Policy{}).Validate(); err != nil {
		t.Errorf("the zero Policy: %v", err)
	}
}

func TestPoissonUpper(t *testing.T) {
	// P(X ≤ 0 | μ) = e^−μ: the bound for 0 at 5% is −ln 0.05 ≈ 3.
	if got := poissonUpper(0, 0.05); got < 2.99 || got > 3.0 {
		t.Errorf("poissonUpper(0, 0.05) = %g, want about 3.0", got)
	}
	if got := poissonUpper(100, 0.05); got < 115 || got > 130 {
		t.Errorf("poissonUpper(100, 0.05) = %g, want about 120", got)
	}
}

// TestDetectorNull simulates deployments in which the new version logs
// every template at the old one's rate, through a canary's steps (the
// last, at 100%, against the baseline), and
// counts those with any finding: the family-wise false-alarm rate, which
// must stay under Alpha.
func TestDetectorNull(t *testing.T) {
	deployments := 400
	if testing.Short() || raceEnabled {
		deployments = 100
	}
	rng := rand.New(rand.NewPCG(7, 13))
	// 60 error templates: rates per request from 1e-5 to 1e-2.
	rates := make([]float64, 60)
	for i := range rates {
		rates[i] = 1e-5 * float64(int(1)<<(i%11))
	}
	weights := []float64{1, 5, 25, 50, 100}
	alarms := 0
	for range deployments {
		// A 15-minute baseline at 1000 requests a minute.
		baseCounts := map[string]float64{}
		for i, r := range rates {
			baseCounts[fmt.Sprintf("t%d", i)] = randx.Poisson(rng, r*15000)
		}
		base := sample(15000, baseCounts, t0)
		d, _ := NewDetector(Policy{Alpha: 0.05}, &base)
		for step, w := range weights {
			for minute := range 5 {
				at := t0.Add(time.Duration(step*5+minute) * time.Minute)
				b, a := 10*w, 10*(100-w) // 1000 requests a minute
				newCounts, oldCounts := map[string]float64{}, map[string]float64{}
				for i, r := range rates {
					name := fmt.Sprintf("t%d", i)
					newCounts[name] = randx.Poisson(rng, r*b)
					oldCounts[name] = randx.Poisson(rng, r*a)
				}
				old := sample(a, oldCounts, at)
				var oldp *Sample
				if a > 0 {
					oldp = &old
				}
				d.Observe(Interval{Start: at, End: at.Add(time.Minute), New: sample(b, newCounts, at), Old: oldp})
			}
		}
		if len(d.Findings()) > 0 {
			alarms++
		}
	}
	rate := float64(alarms) / float64(deployments)
	t.Logf("false alarms: %d of %d deployments (%.1f%%) at Alpha 5%%", alarms, deployments, 100*rate)
	if rate > 0.05+2*0.011 { // Alpha plus two standard errors at 400
		t.Errorf("false-alarm rate %.3f above Alpha 0.05", rate)
	}
}

// TestDetectorCanaryThenFull follows a canary whose last step has no
// control: evidence from the steps with one carries into the step
// compared with the baseline.
func TestDetectorCanaryThenFull(t *testing.T) {
	base := sample(15000, map[string]float64{"timeout": 150}, t0)
	d, _ := NewDetector(Policy{}, &base)
	// Two lines at 5% in the canary step: not enough alone.
	old := sample(950, map[string]float64{"timeout": 9.5}, t0)
	if got := d.Observe(Interval{Start: t0, End: t0.Add(time.Minute), New: sample(50, map[string]float64{"timeout": 0.5, "pool": 2}, t0), Old: &old}); len(got) != 0 {
		t.Fatalf("after 2 lines: %v", got)
	}
	// At 100%, without control: 6 lines in every 1000 requests, against
	// none in the baseline's 15000.
	var got []Finding
	minutes := 0
	for ; minutes < 10 && len(got) == 0; minutes++ {
		at := t0.Add(time.Duration(1+minutes) * time.Minute)
		got = d.Observe(Interval{Start: at, End: at.Add(time.Minute), New: sample(1000, map[string]float64{"timeout": 10, "pool": 6}, at)})
	}
	if len(got) != 1 || got[0].Template != "pool" || got[0].OldCount != 0 || got[0].OldExposure != 950+15000 || !got[0].FirstSeen.Equal(t0) {
		t.Fatalf("findings %+v; want the pool error first seen in the canary step, against the control's and the baseline's exposure", got)
	}
	t.Logf("found after %d minutes at 100%%, %g lines", minutes, got[0].NewCount)
	if minutes < 2 {
		t.Errorf("found after %d minute(s) without control: the baseline's bound should make 8 lines too few", minutes)
	}
}
