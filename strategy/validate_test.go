package strategy_test

import (
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
)

// validating is what every built-in strategy is.
type validating interface {
	strategy.Strategy
	strategy.Validator
	strategy.Describer
}

var _ = []validating{strategy.Direct{}, strategy.Rolling{}, strategy.BlueGreen{}, strategy.Canary{}}

func TestValidate(t *testing.T) {
	f := newFleet(1)
	fleet := strategy.Target{Fleet: f}
	tests := []struct {
		name   string
		s      validating
		target strategy.Target
		want   []string // each must appear in the one error; none for valid
	}{
		{"direct zero", strategy.Direct{}, fleet, nil},
		{"rolling zero", strategy.Rolling{}, fleet, nil},
		{"blue-green zero, switch", strategy.BlueGreen{}, strategy.Target{Fleet: f, Switch: f}, nil},
		{"blue-green zero, router", strategy.BlueGreen{}, strategy.Target{Fleet: f, Router: f}, nil},
		{"canary zero", strategy.Canary{}, fleet, nil},
		{"rolling counts", strategy.Rolling{MaxSurge: "0", MaxUnavailable: "1"}, fleet, nil},
		// A percentage that rounds to zero on a small fleet is fine: the
		// plan then takes one unavailable.
		{"rolling small percentages", strategy.Rolling{MaxSurge: "0%", MaxUnavailable: "10%"}, fleet, nil},
		{"canary one step", strategy.Canary{Steps: []float64{100}}, fleet, nil},
		{"canary fractional", strategy.Canary{Steps: []float64{0.5, 99.5}}, fleet, nil},
		{"one at a time", strategy.Rolling{Concurrency: 1}, fleet, nil},

		{"direct", strategy.Direct{Window: -time.Second, ReadyTimeout: -time.Minute, Concurrency: -1}, strategy.Target{},
			[]string{"Window = -1s", "ReadyTimeout = -1m0s", "Concurrency = -1", "Target.Fleet = nil", "4 problem(s)"}},
		{"rolling", strategy.Rolling{MaxSurge: "abc", MaxUnavailable: "150%", BatchWindow: -time.Second, Window: -2 * time.Second, ReadyTimeout: -3 * time.Second, Concurrency: -2}, strategy.Target{},
			[]string{`MaxSurge = "abc"`, `MaxUnavailable = "150%"`, "BatchWindow = -1s", "Window = -2s", "ReadyTimeout = -3s", "Concurrency = -2", "Target.Fleet = nil", "7 problem(s)"}},
		{"rolling negative", strategy.Rolling{MaxSurge: "-1", MaxUnavailable: "-5%"}, fleet,
			[]string{`MaxSurge = "-1"`, `MaxUnavailable = "-5%"`}},
		{"rolling both zero", strategy.Rolling{MaxSurge: "0", MaxUnavailable: "0%"}, fleet,
			[]string{`MaxSurge = "0", MaxUnavailable = "0%"`, "both zero"}},
		{"blue-green", strategy.BlueGreen{PreviewWindow: -1, Window: -2, KeepWarm: -3, ReadyTimeout: -4, Concurrency: -5}, strategy.Target{},
			[]string{"PreviewWindow = -1ns", "Window = -2ns", "ReadyTimeout = -4ns", "Concurrency = -5", "Target.Fleet = nil", "Target.Switch = nil", "6 problem(s)"}},
		{"blue-green without switch or router", strategy.BlueGreen{}, fleet,
			[]string{"Target.Switch = nil", "Router"}},
		{"canary", strategy.Canary{Steps: []float64{0, 10, 10, 5, 101, -1, math.NaN(), 50}, StepWindow: -time.Second, ReadyTimeout: -time.Second, Concurrency: -1}, strategy.Target{},
			[]string{"Steps[0] = 0", "Steps[2] = 10", "Steps[3] = 5", "Steps[4] = 101", "Steps[5] = -1", "Steps[6] = NaN",
				"Steps[7] = 50", "StepWindow = -1s", "ReadyTimeout = -1s", "Concurrency = -1", "Target.Fleet = nil", "11 problem(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate(tt.target)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestDeployInvalid checks that Deploy refuses what Validate refuses,
// before changing anything, rather than panicking half-way.
func TestDeployInvalid(t *testing.T) {
	tests := []struct {
		name   string
		s      strategy.Strategy
		router bool
	}{
		{"direct negative window", strategy.Direct{Window: -1}, false},
		{"rolling bad amount", strategy.Rolling{MaxSurge: "lots"}, false},
		{"rolling both zero", strategy.Rolling{MaxSurge: "0", MaxUnavailable: "0"}, false},
		{"blue-green without switch or router", strategy.BlueGreen{}, false},
		{"canary decreasing steps", strategy.Canary{Steps: []float64{50, 10}}, false},
		{"canary decreasing steps, router", strategy.Canary{Steps: []float64{50, 10}}, true},
		{"canary zero weight", strategy.Canary{Steps: []float64{0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(4)
				target := strategy.Target{Fleet: f}
				if tt.router {
					target.Router = f
				}
				undo, err := tt.s.Deploy(t.Context(), target, rel, newGate(f))
				if err == nil {
					t.Fatal("Deploy accepted an invalid strategy")
				}
				if undo != nil {
					t.Error("Deploy returned an Undo although it changed nothing")
				}
				assertVersions(t, f, map[string]int{"v1": 4})
				if r := f.State().Route; r != nil {
					t.Errorf("router was set: %+v", r)
				}
			})
		})
	}

	for _, s := range []strategy.Strategy{strategy.Direct{}, strategy.Rolling{}, strategy.BlueGreen{}, strategy.Canary{}} {
		if _, err := s.Deploy(t.Context(), strategy.Target{}, rel, newGate(nil)); err == nil || !strings.Contains(err.Error(), "Target.Fleet = nil") {
			t.Errorf("%T.Deploy without a fleet: error = %v, want one naming Target.Fleet", s, err)
		}
	}
}
