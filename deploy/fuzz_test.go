package deploy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// FuzzValidate builds plans from arbitrary fields: Validate must never
// panic, and an invalid plan's error must wrap ErrInvalidPlan and name a
// field on every line.
func FuzzValidate(f *testing.F) {
	f.Add("shop", "v2", "v1", "staging", "ana", "new page", int64(0), int64(0), 5.0, 50.0, 2.0, int64(time.Minute), "25%", "1", uint8(0))
	f.Add("", "v1", "v1", "prod", "", "", int64(-1), int64(-5), 120.0, 1.0, 0.5, int64(-1), "200%", "-3", uint8(7))
	f.Add("shop", "v2", "v1", "production", "ana", "x", int64(1), int64(1), -1.0, 0.0, 1e300, int64(1), "", "abc", uint8(255))
	fleet := newFleet(healthy)
	f.Fuzz(func(t *testing.T, service, version, previous, env, engineer, what string, undo, read int64, step1, step2, ratio float64, interval int64, surge, unavailable string, pick uint8) {
		p := &deploy.Plan{
			Service: service, Version: version, Previous: previous, Environment: deploy.Environment(env),
			Change:      deploy.Change{Engineer: engineer, What: what, Risky: pick&1 != 0, Disruption: strings.Repeat("x", int(pick&2))},
			UndoTimeout: time.Duration(undo),
			Timeouts:    deploy.Timeouts{Read: time.Duration(read)},
			Verify:      verify.Policy{MaxErrorRatio: ratio, Interval: time.Duration(interval)},
			Metrics:     fleet,
		}
		if pick&4 != 0 {
			p.Tests = deploy.CheckFunc(nil)
		}
		if pick&8 != 0 {
			p.Target = strategy.Target{Fleet: fleet, Router: fleet}
		}
		switch pick >> 4 % 4 {
		case 0:
			p.Strategy = strategy.Canary{Steps: []float64{step1, step2}}
		case 1:
			p.Strategy = strategy.Rolling{MaxSurge: strategy.Amount(surge), MaxUnavailable: strategy.Amount(unavailable)}
		case 2:
			p.Strategy = strategy.BlueGreen{PreviewWindow: time.Duration(interval)}
		}
		err := p.Validate()
		if err == nil {
			return
		}
		if !errors.Is(err, deploy.ErrInvalidPlan) {
			t.Fatalf("Validate = %v, not wrapping ErrInvalidPlan", err)
		}
		for _, line := range strings.Split(err.Error(), "\n\t* ")[1:] {
			field, _, ok := strings.Cut(line, " = ")
			if !ok || field == "" || strings.ContainsAny(field, " :") {
				t.Errorf("a problem that names no field: %q", line)
			}
		}
	})
}
