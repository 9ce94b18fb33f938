package deploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/randx"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// noisyLogs is a log source whose counts are Poisson draws around shares
// of the requests each version served: what a service's warnings and
// errors look like when they follow its traffic.
type noisyLogs struct {
	fleet  *strategytest.Fleet
	shares map[string]map[string]float64 // version → template → lines per request
	mu     sync.Mutex
	rng    *rand.Rand
}

func (n *noisyLogs) Patterns(ctx context.Context, q verify.Query) (verify.LogObservation, error) {
	o, err := n.fleet.Observe(ctx, q)
	if err != nil {
		return verify.LogObservation{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	obs := verify.LogObservation{Lines: o.Requests}
	for i := range len(n.shares[q.Version]) {
		tmpl := fmt.Sprintf("template %d <*>", i)
		c := randx.Poisson(n.rng, n.shares[q.Version][tmpl]*o.Requests)
		if c > 0 {
			obs.Patterns = append(obs.Patterns, verify.LogPattern{ID: tmpl, Template: tmpl, Level: slog.LevelError, Count: c, Example: tmpl, FirstSeen: q.Start})
		}
	}
	return obs, nil
}

// TestLogPatternFalseAlarmsAndDetection runs whole canary deployments of a
// good v2 (the default five steps, 5 minutes each, 100 requests per
// second) whose 30 error templates, at rates from 1 in 10,000 requests to
// 1 in 10, are the old version's, drawn as Poisson counts each interval;
// of a v2 that logs each of them at twice the old rate, the limit
// (Patterns.MaxRatio): no new pattern either; and of a buggy v2 that also
// logs a new template on 0.5% of its requests.
// It counts the deployments in which the log-pattern rule found anything.
// The counts are the model's own (independent lines): real logs are
// burstier, see package verify/logs for measurements on public logs.
func TestLogPatternFalseAlarmsAndDetection(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 40
	}
	const templates = 30
	shares := func(seed uint64) map[string]float64 {
		r := rand.New(rand.NewPCG(seed, 7))
		m := map[string]float64{}
		for i := range templates {
			m[fmt.Sprintf("template %d <*>", i)] = math.Pow(10, -4+3*r.Float64())
		}
		return m
	}
	// up is how many times the old rate v2 logs each template at; bug
	// adds the new template.
	deployments := func(up float64, bug bool) (found, completed int) {
		for i := range runs {
			synctest.Test(t, func(t *testing.T) {
				fleet := newFleet(healthy)
				p, rec := newPlan(fleet)
				old := shares(uint64(i))
				cur := shares(uint64(i))
				for k := range cur {
					cur[k] *= up
				}
				if bug {
					cur[fmt.Sprintf("template %d <*>", templates)] = 0.005
				}
				p.Logs = &noisyLogs{fleet: fleet, shares: map[string]map[string]float64{"v1": old, "v2": cur}, rng: rand.New(rand.NewPCG(uint64(i), 11))}
				rep, _ := deploy.Run(t.Context(), p)
				if rec.count(deploy.KindPattern) > 0 {
					found++
				}
				if rep.Outcome == deploy.Completed {
					completed++
				}
			})
		}
		return found, completed
	}
	falseAlarms, good := deployments(1, false)
	atLimit, _ := deployments(2, false)
	detected, _ := deployments(1, true)
	t.Logf("good v2: %d of %d deployments with a pattern found (%d completed); every template at twice the old rate, the limit: %d of %d; buggy v2 (a new template on 0.5%% of requests): found in %d of %d",
		falseAlarms, runs, good, atLimit, runs, detected, runs)
	// Alpha is 1% family-wise, at the limit: 100 runs expect about 1 at
	// most.
	for _, c := range []struct {
		name string
		n    int
	}{{"good", falseAlarms}, {"at the limit", atLimit}} {
		if limit := max(2, runs*3/100); c.n > limit {
			t.Errorf("%s: %d false alarms in %d deployments, want at most %d (Alpha 1%%)", c.name, c.n, runs, limit)
		}
	}
	if detected < runs*95/100 {
		t.Errorf("the new template was found in %d of %d deployments, want at least 95%%", detected, runs)
	}
}
