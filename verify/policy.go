package verify

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// Defaults applied by Policy for zero fields. Where zero is itself a
// meaningful setting — MinErrorRate (no floor), MaxBusinessDrop (no fall
// allowed) and MinRequests (no minimum) — ask for it with a negative value,
// as net.Dialer.KeepAlive does: zero means the default, a negative value
// means zero.
const (
	DefaultMaxErrorRatio = 2.0
	DefaultMinErrorRate  = 0.001
	DefaultMaxP50Ratio   = 1.2
	DefaultMaxP95Ratio   = 2.0
	DefaultMaxP99Ratio   = 3.0
	DefaultAlpha         = 0.05
	// MaxLimit is the largest multiple a limit may be (and 1/MaxLimit the
	// smallest fraction): the sequential judge weighs ratios up to 32×,
	// and needs some beyond the limit to find evidence.
	MaxLimit                    = 16.0
	DefaultMaxBusinessDrop      = 0.2
	DefaultMinRequests          = 100
	DefaultInterval             = time.Minute
	DefaultBaselineWindow       = 15 * time.Minute
	DefaultSignificantWindow    = 24 * time.Hour
	DefaultMaxConsecutiveErrors = 3
)

// A Policy says when a new version is worse than the old one and how long to
// look. Zero fields take the defaults above, so the zero Policy is the seed's
// rollback policy. The new version is compared with the old one serving at
// the same time where there is one (the concurrent control), else with the
// pre-deploy baseline:
//
//   - error rate above 2× the comparison's (a comparison below 0.1% counts
//     as 0.1%, so that a clean baseline does not make one error fatal);
//   - latency "significantly" up, counted as requests slower than the
//     baseline's quantile (snapped to a histogram bucket bound): more than
//     1.2× as many above the baseline P50 (60% of requests instead of 50%),
//     2× as many above its P95 (10% instead of 5%) or 3× as many above its
//     P99 (3% instead of 1%). For a typical log-normal latency spread
//     (σ = 0.5) that is the median up about 14%, P95 up about 20% or P99 up
//     about 25%;
//   - business events per request down by more than 20%;
//   - any critical-path probe failing, at the next interval;
//   - with a log source (deploy.Plan.Logs), a new error pattern in the new
//     version's logs holds the step: it cannot pass (Patterns).
//
// The default judge (NewSequentialJudge) rolls back only when the data show,
// at family-wise confidence 1 − Alpha across all these metrics, that a limit
// is crossed; however often it looks. A window ends Pass only when no limit
// was crossed and the data were good enough to judge: some new-version
// traffic, MinRequests since the deployment began, at least 80% of the
// window covered by data, the traffic split close to the step's weight
// (MinRequests is checked at the final window only), and, for a metric
// judged in that window against the baseline alone, a baseline whose
// confidence bound is within the limit of its measured rate — else even a
// regression of the limit squared could pass unseen; lengthen
// BaselineWindow for a quiet service.
// Otherwise it is Inconclusive, which rolls back unless Escalate says to go
// on.
type Policy struct {
	// MaxErrorRatio is how many times the comparison's error rate the new
	// version may reach. Must be at least 1; lower it for more sensitivity.
	MaxErrorRatio float64
	// MinErrorRate floors the comparison's error rate used in the ratio,
	// a rate in [0, 1). Zero means DefaultMinErrorRate (0.1%); a negative
	// value means no floor, so that against a comparison with no errors at
	// all, any error the data show beyond chance fails.
	MinErrorRate float64
	// Latency limits, for each quantile, how many times as many requests
	// may be slower than the baseline's quantile.
	Latency LatencyLimits
	// MaxBusinessDrop is the largest fall, as a fraction in [0, 1), of
	// business events per request. Zero means DefaultMaxBusinessDrop
	// (20%); a negative value means no fall is allowed (the limit is the
	// comparison's rate itself); 1 disables the rule.
	MaxBusinessDrop float64
	// MinRequests is the exposure the new version needs, since the
	// deployment began, before the final window can pass (earlier windows,
	// such as a 1% canary step on a quiet service, may pass with less:
	// their evidence carries into the later ones). Zero means
	// DefaultMinRequests (100); a negative value means no minimum.
	MinRequests float64
	// Alpha bounds the probability that a deployment whose every metric is
	// within its limits is rolled back anyway (the family-wise false-rollback
	// rate of the sequential judge, split evenly across the metrics judged).
	Alpha float64
	// Binomial turns off the sequential judge's correction for
	// overdispersion (per-interval noise beyond binomial, such as one
	// canary pod hiccuping). Leave it off unless your counts are truly
	// binomial: without the correction, noise can exceed Alpha. With it,
	// Alpha holds up to about 30% per-minute noise per version; much more
	// (50%) exceeds it too (docs/judges.md).
	Binomial bool
	// Probes are critical user paths, checked at the end of every interval
	// (and once for a step that is not observed); any failure fails the
	// verdict without waiting for the window to end.
	Probes []Probe

	// Interval is how often metrics are read and judged.
	Interval time.Duration
	// Window, when set, replaces the observation window of every observed
	// step (5 min per canary step, 15 min for rolling, blue/green and direct).
	Window time.Duration
	// SignificantWindow is the final window of a plan marked significant:
	// a full daily cycle unless set.
	SignificantWindow time.Duration
	// BaselineWindow is how much pre-deploy history forms the baseline.
	BaselineWindow time.Duration
	// MaxConsecutiveErrors is how many intervals in a row the metric source
	// may fail before the verdict is Fail: a source that keeps failing is a
	// reason to roll back, not a silent pass. Zero means
	// DefaultMaxConsecutiveErrors (3); 1 fails at the first failed read.
	MaxConsecutiveErrors int

	// Escalate is called when a window ends Inconclusive. It may page a
	// person and wait for them; nil error means proceed, an error means roll
	// back. A nil Escalate rolls back: when the data cannot tell, the safe
	// answer is the old version.
	Escalate func(ctx context.Context, v *Verdict) error
	// Judge makes the judge for one deployment; nil means NewSequentialJudge.
	Judge func(p Policy, b Baseline) Judge

	// Patterns is the log-pattern rule: when a new error pattern in the
	// new version's logs is one, and what it does to the deployment (by
	// default it holds the step: see PatternPolicy and PatternHold). It
	// applies when the plan has a log source. WithDefaults leaves it as it
	// is: the test fills in its own defaults (PatternPolicy.WithDefaults).
	Patterns PatternPolicy
}

// LatencyLimits are, for the baseline's P50, P95 and P99, the largest
// allowed ratio of the new version's share of requests slower than that
// quantile to the comparison's share. Zero means the default; +Inf disables
// a limit.
type LatencyLimits struct {
	P50, P95, P99 float64
}

// A Probe checks a critical user path (log in, check out…). A non-nil error
// from Check fails the verdict immediately.
type Probe struct {
	Name  string
	Check func(ctx context.Context) error
}

// WithDefaults returns p with every zero field set to its default. It
// keeps negative values, which ask for a real zero (see the defaults), as
// they are, so that WithDefaults(WithDefaults(p)) is WithDefaults(p); a
// Judge reads MinErrorRate, MaxBusinessDrop and MinRequests as max(v, 0).
func (p Policy) WithDefaults() Policy {
	p.MaxErrorRatio = cmp.Or(p.MaxErrorRatio, DefaultMaxErrorRatio)
	p.MinErrorRate = cmp.Or(p.MinErrorRate, DefaultMinErrorRate)
	p.Latency.P50 = cmp.Or(p.Latency.P50, DefaultMaxP50Ratio)
	p.Latency.P95 = cmp.Or(p.Latency.P95, DefaultMaxP95Ratio)
	p.Latency.P99 = cmp.Or(p.Latency.P99, DefaultMaxP99Ratio)
	p.MaxBusinessDrop = cmp.Or(p.MaxBusinessDrop, DefaultMaxBusinessDrop)
	p.MinRequests = cmp.Or(p.MinRequests, DefaultMinRequests)
	p.Alpha = cmp.Or(p.Alpha, DefaultAlpha)
	p.Interval = cmp.Or(p.Interval, DefaultInterval)
	p.SignificantWindow = cmp.Or(p.SignificantWindow, DefaultSignificantWindow)
	p.BaselineWindow = cmp.Or(p.BaselineWindow, DefaultBaselineWindow)
	p.MaxConsecutiveErrors = cmp.Or(p.MaxConsecutiveErrors, DefaultMaxConsecutiveErrors)
	if p.Judge == nil {
		p.Judge = NewSequentialJudge
	}
	return p
}

// Validate returns one error listing every invalid field with its value, or
// nil. Zero fields are valid: they mean the default; so are negative
// MinErrorRate, MaxBusinessDrop and MinRequests, which mean zero.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if p.MaxErrorRatio != 0 && !(p.MaxErrorRatio >= 1 && p.MaxErrorRatio <= MaxLimit) {
		bad("MaxErrorRatio", p.MaxErrorRatio, fmt.Sprintf("must be a multiple from 1 to %g", MaxLimit))
	}
	if p.MinErrorRate >= 1 || math.IsNaN(p.MinErrorRate) {
		bad("MinErrorRate", p.MinErrorRate, "must be a rate below 1 (negative for no floor)")
	}
	for _, l := range []struct {
		name string
		v    float64
	}{{"Latency.P50", p.Latency.P50}, {"Latency.P95", p.Latency.P95}, {"Latency.P99", p.Latency.P99}} {
		if l.v != 0 && !(l.v >= 1 && (l.v <= MaxLimit || math.IsInf(l.v, 1))) {
			bad(l.name, l.v, fmt.Sprintf("must be a ratio from 1 to %g, or +Inf to disable", MaxLimit))
		}
	}
	if !(p.MaxBusinessDrop <= 1-1/MaxLimit || p.MaxBusinessDrop == 1) {
		bad("MaxBusinessDrop", p.MaxBusinessDrop, fmt.Sprintf("must be a fraction up to %g (negative for none), or 1 to disable", 1-1/MaxLimit))
	}
	if math.IsNaN(p.MinRequests) {
		bad("MinRequests", p.MinRequests, "must be a number of requests (negative for none)")
	}
	if p.Alpha < 0 || p.Alpha >= 1 || math.IsNaN(p.Alpha) {
		bad("Alpha", p.Alpha, "must be a probability in (0, 1), or 0 for the default")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Interval", p.Interval}, {"Window", p.Window},
		{"SignificantWindow", p.SignificantWindow}, {"BaselineWindow", p.BaselineWindow},
	} {
		if d.v < 0 {
			bad(d.name, d.v, "must not be negative")
		}
	}
	if p.MaxConsecutiveErrors < 0 {
		bad("MaxConsecutiveErrors", p.MaxConsecutiveErrors, "must not be negative")
	}
	for i, pr := range p.Probes {
		if pr.Name == "" {
			bad(fmt.Sprintf("Probes[%d].Name", i), `""`, "must name the user path")
		}
		if pr.Check == nil {
			bad(fmt.Sprintf("Probes[%d].Check", i), "nil", "must be a function")
		}
	}
	errs = append(errs, errlist.Prefix("Patterns.", p.Patterns.Validate()))
	return errlist.Join(errs...)
}
