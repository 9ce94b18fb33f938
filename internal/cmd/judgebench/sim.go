package main

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/safedeploy/safedeploy/internal/randx"

	"github.com/safedeploy/safedeploy/verify"
)

// The simulation model: see the package documentation.
const (
	runMinutes      = 60     // the observation window, in one-minute intervals
	baselineMinutes = 15     // the pre-deploy baseline
	totalRate       = 1000.0 // requests per minute, both arms together
	baseErrorRate   = 0.01
	businessRate    = 0.05 // business events per request
	latencyMedian   = 0.050
	latencySigma    = 0.5 // of log latency
	tailShare       = 0.02
	tailFactor      = 5.0

	seasonTraffic  = 0.7  // log amplitude of the daily cycle of traffic…
	seasonErrors   = 1.0  // …and of the error rate
	seasonPeak     = 22.5 // the minute of steepest rise (the cycle crosses its mean)
	incidentLength = 5
	incidentFactor = 5.0
	gapRate        = 0.10 // intervals with no data at all
	controlGapRate = 0.05 // intervals with no data for the control
)

// bounds are Prometheus' default histogram buckets, in seconds.
var bounds = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}

// start is when every simulated deployment begins.
var start = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// counts are one arm's metrics over one interval, as a metric source
// reports them: after a counter reset they are negative.
type counts struct {
	requests, errors, business float64
	latency                    [len(bounds)]float64 // cumulative, as Prometheus stores them
}

func (c *counts) add(d counts) {
	c.requests += d.requests
	c.errors += d.errors
	c.business += d.business
	for i := range c.latency {
		c.latency[i] += d.latency[i]
	}
}

func (c counts) minus(d counts) counts {
	c.requests -= d.requests
	c.errors -= d.errors
	c.business -= d.business
	for i := range c.latency {
		c.latency[i] -= d.latency[i]
	}
	return c
}

// usable reports whether the counts are possible. The baseline judges drop
// impossible intervals, as Prometheus' rate() would have corrected the
// reset; ours is given them raw.
func (c counts) usable() bool { return c.requests >= 0 && c.errors >= 0 && c.errors <= c.requests }

// errorRate returns errors per request, and false without requests.
func (c counts) errorRate() (float64, bool) {
	if c.requests <= 0 {
		return 0, false
	}
	return c.errors / c.requests, true
}

func (c counts) observation() verify.Observation {
	h := make(verify.Histogram, len(bounds))
	for i, b := range bounds {
		h[i] = verify.Bucket{UpperBound: b, Count: c.latency[i]}
	}
	return verify.Observation{Requests: c.requests, Errors: c.errors, Business: c.business, Latency: h}
}

// A minute is one interval of a deployment.
type minute struct {
	share           float64 // the canary's share of traffic
	canary, control counts  // as reported
	served          float64 // canary requests actually served
	missing         bool    // no data: no judge sees this interval
	noControl       bool    // no data for the control: judged without it
}

// A deployment is one simulated run: the pre-deploy baseline and the
// observed minutes.
type deployment struct {
	s        scenario
	baseline counts
	minutes  [runMinutes]minute
}

// latencyModel is a log-normal latency distribution, scaled, and with its
// slowest tailShare slowed tailFactor times when tail is set.
type latencyModel struct {
	scale float64
	tail  bool
}

// tailZ is the standard normal quantile of 1 − tailShare.
const tailZ = 2.0537489106318225

// cdf returns the probability that a request takes at most x seconds.
func (l latencyModel) cdf(x float64) float64 {
	if math.IsInf(x, 1) {
		return 1
	}
	z := func(x float64) float64 { return math.Log(x/(latencyMedian*l.scale)) / latencySigma }
	if !l.tail {
		return normalCDF(z(x))
	}
	// The fast part keeps its place; the tail moves out by tailFactor.
	return normalCDF(math.Min(z(x), tailZ)) + math.Max(0, normalCDF(z(x/tailFactor))-normalCDF(tailZ))
}

// masses returns the probability of each histogram bucket (not cumulative).
func (l latencyModel) masses() [len(bounds)]float64 {
	var m [len(bounds)]float64
	prev := 0.0
	for i, b := range bounds {
		c := l.cdf(b)
		m[i], prev = c-prev, c
	}
	return m
}

// draw simulates one arm for one minute: Poisson requests spread over the
// latency buckets, then binomial errors and business events.
func draw(r *rand.Rand, requests, errorRate, business float64, lat latencyModel) counts {
	var c counts
	total := 0.0
	for i, p := range lat.masses() {
		total += randx.Poisson(r, requests*p)
		c.latency[i] = total
	}
	c.requests = total
	c.errors = randx.Binomial(r, total, math.Min(1, errorRate))
	c.business = randx.Binomial(r, total, math.Min(1, business))
	return c
}

// seasons returns the multipliers of traffic and of the error rate in minute
// t (negative in the baseline) of a run placed on the steepest part of the
// daily cycle.
func seasons(t int) (traffic, errors float64) {
	x := math.Sin(2 * math.Pi * (float64(t) + 0.5 - seasonPeak) / (24 * 60))
	return math.Exp(seasonTraffic * x), math.Exp(seasonErrors * x)
}

// seedFor returns the random source of run i of cell name: the same for
// every judge and every run of the program.
func seedFor(seed uint64, name string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed^h.Sum64(), uint64(i)))
}

// simulate draws one deployment of scenario s.
func simulate(s scenario, r *rand.Rand) *deployment {
	d := &deployment{s: s}
	arm := func(t int, requests float64, new bool, shared float64) counts {
		traffic, errs := 1.0, 1.0
		if s.seasonal {
			traffic, errs = seasons(t)
		}
		lat := latencyModel{scale: 1}
		errs *= shared
		if new && t >= s.onset {
			errs *= s.errorRatio()
			lat = latencyModel{scale: s.latencyScale(), tail: s.tail}
		}
		bus := businessRate
		if s.noise > 0 {
			errs *= noise(r, s.noise)
			bus *= noise(r, s.noise)
			lat.scale *= math.Exp(s.noise / 3 * r.NormFloat64())
		}
		return draw(r, requests*traffic, baseErrorRate*errs, bus, lat)
	}
	for t := -baselineMinutes; t < 0; t++ {
		d.baseline.add(arm(t, totalRate, false, 1))
	}

	incident := -1
	if s.incident {
		incident = 5 + r.IntN(runMinutes-10-incidentLength+1)
	}
	resetCanary, resetControl := -1, -1
	if s.resets {
		resetCanary, resetControl = 5+r.IntN(runMinutes-10), 5+r.IntN(runMinutes-10)
	}
	// Counters as they stood before each minute, for a reset's delta: the
	// control's has run since before the baseline.
	canaryTotal, controlTotal := counts{}, d.baseline
	for t := range d.minutes {
		m := &d.minutes[t]
		m.share = s.shareAt(t)
		shared := 1.0
		if incident >= 0 && t >= incident && t < incident+incidentLength {
			shared = incidentFactor
		}
		m.canary = arm(t, totalRate*m.share, true, shared)
		m.control = arm(t, totalRate*(1-m.share), false, shared)
		m.served = m.canary.requests
		canaryTotal.add(m.canary)
		controlTotal.add(m.control)
		// A restart zeroes the counter: the delta is what it counted since,
		// minus what it had before.
		if t == resetCanary {
			m.canary = m.canary.minus(canaryTotal.minus(m.canary))
		}
		if t == resetControl {
			m.control = m.control.minus(controlTotal.minus(m.control))
		}
		if s.gaps {
			u := r.Float64()
			m.missing = u < gapRate
			m.noControl = !m.missing && u < gapRate+controlGapRate
		}
	}
	return d
}

// baselineFor returns the pre-deploy baseline as verify takes it.
func (d *deployment) baselineFor() verify.Baseline {
	return verify.Baseline{
		Version: "v1", Start: start.Add(-baselineMinutes * time.Minute), End: start,
		Observation: d.baseline.observation(),
	}
}

// badRequests returns the canary requests served from the regression's
// onset until a decision at minute at (0: none within the run).
func (d *deployment) badRequests(at int) float64 {
	end := runMinutes
	if at > 0 {
		end = at
	}
	sum := 0.0
	for t := d.s.onset; t < end; t++ {
		sum += d.minutes[t].served
	}
	return sum
}

// truth is the canary's true ratio to the control, once the regression has
// started, for each metric the default policy judges, and each limit.
type truth struct {
	metric       string
	ratio, limit float64
}

// truths computes the true ratios of scenario s from the model, with the
// latency bounds verify would snap the expected baseline histogram to.
func truths(s scenario) []truth {
	p := verify.Policy{}.WithDefaults()
	ts := []truth{{"error-rate", s.errorRatio(), p.MaxErrorRatio}}
	var base counts
	for i, b := range bounds {
		base.latency[i] = 1e6 * latencyModel{scale: 1}.cdf(b)
	}
	base.requests = 1e6
	// The judge reports the bound each latency rule watches: ask it.
	j := verify.NewSequentialJudge(p, verify.Baseline{Observation: base.observation()})
	canary := latencyModel{scale: s.latencyScale(), tail: s.tail}
	for _, m := range j.Conclude().Measurements {
		if m.Above > 0 {
			above := 1 - latencyModel{scale: 1}.cdf(m.Above)
			ts = append(ts, truth{m.Metric, (1 - canary.cdf(m.Above)) / above, m.Limit})
		}
	}
	return ts
}

// regression reports whether some metric of s is truly beyond its limit.
func (s scenario) regression() bool {
	for _, t := range truths(s) {
		if t.ratio > t.limit*(1+1e-9) {
			return true
		}
	}
	return false
}
