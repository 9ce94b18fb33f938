package verify_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
)

func TestPolicyValidateZero(t *testing.T) {
	if err := (verify.Policy{}).Validate(); err != nil {
		t.Errorf("zero Policy: Validate() = %v, want nil", err)
	}
	if err := (verify.Policy{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults: Validate() = %v, want nil", err)
	}
	ok := verify.Policy{
		MaxErrorRatio: 1, MinErrorRate: 0.5, Latency: verify.LatencyLimits{P50: 1, P95: math.Inf(1), P99: 3},
		MaxBusinessDrop: 1, MinRequests: 1, Window: time.Minute,
		Probes: []verify.Probe{{Name: "checkout", Check: func(context.Context) error { return nil }}},
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid Policy: Validate() = %v, want nil", err)
	}
}

func TestPolicyValidateListsEveryField(t *testing.T) {
	p := verify.Policy{
		MaxErrorRatio:        0.5,
		MinErrorRate:         1.5,
		Latency:              verify.LatencyLimits{P50: 0.9, P95: math.NaN(), P99: -2},
		MaxBusinessDrop:      1.25,
		MinRequests:          math.NaN(),
		Probes:               []verify.Probe{{Check: func(context.Context) error { return nil }}, {Name: "login"}},
		Interval:             -time.Second,
		Window:               -2 * time.Second,
		SignificantWindow:    -3 * time.Second,
		BaselineWindow:       -4 * time.Second,
		MaxConsecutiveErrors: -1,
	}
	err := p.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error naming every invalid field")
	}
	msg := err.Error()
	// Each field must be named together with its value.
	for _, want := range []string{
		"MaxErrorRatio = 0.5", "MinErrorRate = 1.5",
		"Latency.P50 = 0.9", "Latency.P95 = NaN", "Latency.P99 = -2",
		"MaxBusinessDrop = 1.25", "MinRequests = NaN",
		"Probes[0].Name", "Probes[1].Check",
		"Interval = -1s", "Window = -2s", "SignificantWindow = -3s", "BaselineWindow = -4s",
		"MaxConsecutiveErrors = -1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate() error does not mention %q:\n%s", want, msg)
		}
	}
	for _, valid := range []string{"Probes[0].Check", "Probes[1].Name"} {
		if strings.Contains(msg, valid) {
			t.Errorf("Validate() error mentions valid field %q:\n%s", valid, msg)
		}
	}
}

func TestPolicyValidateNaN(t *testing.T) {
	nan := math.NaN()
	for _, tt := range []struct {
		field string
		p     verify.Policy
	}{
		{"MaxErrorRatio", verify.Policy{MaxErrorRatio: nan}},
		{"MinErrorRate", verify.Policy{MinErrorRate: nan}},
		{"MaxBusinessDrop", verify.Policy{MaxBusinessDrop: nan}},
		{"MinRequests", verify.Policy{MinRequests: nan}},
		{"Latency.P99", verify.Policy{Latency: verify.LatencyLimits{P99: math.Inf(-1)}}},
	} {
		if err := tt.p.Validate(); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Validate() with bad %s = %v, want an error naming it", tt.field, err)
		}
	}
}

func TestPolicyWithDefaults(t *testing.T) {
	got := verify.Policy{}.WithDefaults()
	want := verify.Policy{
		MaxErrorRatio:        2,
		MinErrorRate:         0.001,
		Latency:              verify.LatencyLimits{P50: 1.2, P95: 2, P99: 3},
		MaxBusinessDrop:      0.2,
		MinRequests:          100,
		Alpha:                0.05,
		Interval:             time.Minute,
		SignificantWindow:    24 * time.Hour,
		BaselineWindow:       15 * time.Minute,
		MaxConsecutiveErrors: 3,
	}
	ignoreFuncs := cmpopts.IgnoreFields(verify.Policy{}, "Judge", "Escalate")
	if diff := cmp.Diff(want, got, ignoreFuncs); diff != "" {
		t.Errorf("WithDefaults mismatch (-want +got):\n%s", diff)
	}
	if got.Judge == nil {
		t.Error("WithDefaults: Judge = nil, want NewSequentialJudge")
	}
	if got.Escalate != nil {
		t.Error("WithDefaults: Escalate set, want nil (roll back on Inconclusive)")
	}
	if got.Window != 0 {
		t.Errorf("WithDefaults: Window = %v, want 0 (each step's own window)", got.Window)
	}

	// Fields already set are kept.
	set := verify.Policy{
		MaxErrorRatio: 3, MinErrorRate: 0.01, Latency: verify.LatencyLimits{P50: math.Inf(1), P95: 2, P99: 4}, MaxBusinessDrop: 1, MinRequests: 5, Alpha: 0.01, Interval: time.Second,
		Window: time.Hour, SignificantWindow: time.Hour, BaselineWindow: time.Hour, MaxConsecutiveErrors: 9,
	}
	if diff := cmp.Diff(set, set.WithDefaults(), ignoreFuncs); diff != "" {
		t.Errorf("WithDefaults changed fields already set (-want +got):\n%s", diff)
	}
}

// TestPolicyLimitsWithinTheGrid: a limit the sequential judge could never
// find evidence beyond is refused.
func TestPolicyLimitsWithinTheGrid(t *testing.T) {
	err := verify.Policy{MaxErrorRatio: 20, Latency: verify.LatencyLimits{P95: 17}, MaxBusinessDrop: 0.95}.Validate()
	for _, want := range []string{"MaxErrorRatio = 20", "Latency.P95 = 17", "MaxBusinessDrop = 0.95"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
	if err := (verify.Policy{MaxErrorRatio: 16, Latency: verify.LatencyLimits{P95: math.Inf(1)}, MaxBusinessDrop: 1}).Validate(); err != nil {
		t.Errorf("limits at the edge: %v", err)
	}
}

// A negative MinErrorRate, MaxBusinessDrop or MinRequests asks for a real
// zero: Validate accepts it, and WithDefaults keeps it rather than put the
// default in its place, however often it is applied.
func TestPolicyNegativeMeansZero(t *testing.T) {
	p := verify.Policy{MinErrorRate: -1, MaxBusinessDrop: -1, MinRequests: -1}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil: a negative value asks for zero", err)
	}
	d := p.WithDefaults()
	if d.MinErrorRate >= 0 || d.MaxBusinessDrop >= 0 || d.MinRequests >= 0 {
		t.Errorf("WithDefaults() = MinErrorRate %g, MaxBusinessDrop %g, MinRequests %g; want them still negative", d.MinErrorRate, d.MaxBusinessDrop, d.MinRequests)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("WithDefaults().Validate() = %v, want nil", err)
	}
	dd := d.WithDefaults()
	if diff := cmp.Diff(d, dd, cmpopts.IgnoreFields(verify.Policy{}, "Judge", "Escalate")); diff != "" {
		t.Errorf("WithDefaults is not idempotent (-once +twice):\n%s", diff)
	}
	z := verify.Policy{}.WithDefaults()
	if z.MinErrorRate != verify.DefaultMinErrorRate || z.MaxBusinessDrop != verify.DefaultMaxBusinessDrop || z.MinRequests != verify.DefaultMinRequests {
		t.Errorf("zero fields: %g, %g, %g; want the defaults", z.MinErrorRate, z.MaxBusinessDrop, z.MinRequests)
	}
}
