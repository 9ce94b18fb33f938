package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safedeploy/safedeploy/verify"
)

// The judges, in the order of the tables.
const (
	jOurs = iota
	jBinomial
	jControl
	jControlCal
	jControlLimit
	jBaseline
	jBaselineCal
	jBaselineLimit
	jMWEnd
	jMW10
	jFixed
	jOracle
	nJudges
)

var judgeNames = [nJudges]string{
	"ours", "ours, binomial",
	"(a) ctl 2×, 3 fails", "(a′) ctl, cal. at ×1", "(a″) ctl, cal. at ×2",
	"(b) pre-deploy 2×", "(b′) pre-deploy, cal. at ×1", "(b″) pre-deploy, cal. at ×2",
	"(c) MW at 60m", "(c) MW every 10m", "(d) fixed 60m", "oracle SPRT",
}

// errorsOnly reports whether judge j reads only the error rate: it has
// nothing to find in a latency regression.
func errorsOnly(j int) bool { return j != jOurs && j != jBinomial }

// Policy facts the baselines and the oracle share with ours: the error
// limit, and α for the error metric alone — the default policy splits its
// family-wise α over five metrics (error rate, latency P50/P95/P99,
// business rate).
var (
	errorLimit = verify.DefaultMaxErrorRatio
	errorAlpha = verify.DefaultAlpha / 5 * 0.9 // ours keeps a tenth of each metric's α for the baseline's bound
)

// controlFailureLimit is judge (a)'s failure limit.
const controlFailureLimit = 3

// A reference is a cell the threshold judges are calibrated on: at one
// traffic share, no change (×1) or an effect exactly at the limit (×2).
type reference struct {
	where  string
	errors float64
}

// A calibrated pair of factors: judges (a) and (b) with these roll back no
// more of the reference cell's deployments than ours does.
type calibrated struct {
	ours, runs        int // ours' rollbacks in the reference cell, of runs
	control, baseline float64
	achieved          [2]int // (a)'s and (b)'s rollbacks at those factors
}

type calibration map[reference]calibrated

// A result is one run of one cell through every judge.
type result struct {
	at       [nJudges]int     // the minute each judge rolled back, or 0
	bad      [nJudges]float64 // canary requests served from the onset until then
	ours     sequential
	binomial sequential
}

func main() {
	runs := flag.Int("runs", 2000, "runs per cell whose effect is at or below the limits")
	effectRuns := flag.Int("effect-runs", 2000, "runs per regression cell")
	quick := flag.Bool("quick", false, "a fast smoke run: 200 and 100 runs")
	seed := flag.Uint64("seed", 1, "random seed")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "parallel workers")
	only := flag.String("cells", "", "run only the cells whose name matches this regular expression")
	flag.Parse()
	if *quick {
		*runs, *effectRuns = 200, 100
	}
	var match *regexp.Regexp
	if *only != "" {
		var err error
		if match, err = regexp.Compile(*only); err != nil {
			fmt.Fprintln(os.Stderr, "judgebench: -cells:", err)
			os.Exit(2)
		}
	}
	if *runs < 1 || *effectRuns < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "judgebench: -runs, -effect-runs and -workers must be positive")
		os.Exit(2)
	}
	b := bench{seed: *seed, workers: *workers, runs: *runs, effectRuns: *effectRuns, progress: os.Stderr}
	began := time.Now()
	cs := cells()
	if match != nil {
		cs = cs[:0:0]
		for _, s := range cells() {
			if match.MatchString(s.name()) {
				cs = append(cs, s)
			}
		}
	}
	cal := b.calibrate()
	report(os.Stdout, b, cs, b.run(cs, cal), cal)
	fmt.Fprintf(os.Stderr, "judgebench: done in %s\n", time.Since(began).Round(time.Second))
}

type bench struct {
	seed             uint64
	workers          int
	runs, effectRuns int
	progress         io.Writer
}

func (b bench) runsFor(s scenario) int {
	if s.regression() {
		return b.effectRuns
	}
	return b.runs
}

// chunk is how many runs one task simulates.
const chunk = 50

// each calls f(i, run) for runs 0…n−1 of s in parallel, each with its own
// deployment drawn from the cell's seed.
func (b bench) each(g *errgroup.Group, s scenario, n int, f func(i int, d *deployment)) {
	name := s.name()
	for lo := 0; lo < n; lo += chunk {
		g.Go(func() error {
			for i := lo; i < min(lo+chunk, n); i++ {
				f(i, simulate(s, seedFor(b.seed, name, i)))
			}
			return nil
		})
	}
}

// calibrate runs, at each traffic share, the no-change cell and the cell
// exactly at the error limit, and finds in each the factors at which judges
// (a) and (b) roll back at most as many deployments as ours does —
// in-sample, on the very runs the tables report, which favours them.
func (b bench) calibrate() calibration {
	var refs []scenario
	for _, errors := range []float64{1, errorLimit} {
		for _, s := range []scenario{{share: 0.01}, {share: 0.05}, {share: 0.5}, {ramp: true}} {
			s.errors = errors
			refs = append(refs, s)
		}
	}
	type stats struct {
		fail      []bool
		ctl, base []float64
	}
	all := make([]stats, len(refs))
	var g errgroup.Group
	g.SetLimit(b.workers)
	for k, s := range refs {
		n := b.runsFor(s)
		all[k] = stats{make([]bool, n), make([]float64, n), make([]float64, n)}
		b.each(&g, s, n, func(i int, d *deployment) {
			all[k].fail[i] = judgeSequential(d, verify.Policy{}).at > 0
			all[k].ctl[i] = controlStatistic(d, controlFailureLimit)
			all[k].base[i] = baselineStatistic(d)
		})
	}
	g.Wait() // the tasks never fail: errgroup only bounds them
	cal := calibration{}
	for k, s := range refs {
		st := all[k]
		c := calibrated{runs: len(st.fail)}
		for _, f := range st.fail {
			if f {
				c.ours++
			}
		}
		c.control, c.baseline = calibrate(st.ctl, c.ours), calibrate(st.base, c.ours)
		for i := range st.ctl {
			if st.ctl[i] > c.control {
				c.achieved[0]++
			}
			if st.base[i] > c.baseline {
				c.achieved[1]++
			}
		}
		cal[reference{s.where(), s.errors}] = c
	}
	return cal
}

// run simulates every cell and judges each deployment with every judge.
func (b bench) run(cs []scenario, cal calibration) [][]result {
	results := make([][]result, len(cs))
	var g errgroup.Group
	g.SetLimit(b.workers)
	var done atomic.Int64
	total := 0
	for _, s := range cs {
		total += b.runsFor(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				fmt.Fprintf(b.progress, "judgebench: %d of %d runs\n", done.Load(), total)
			}
		}
	}()
	for k, s := range cs {
		results[k] = make([]result, b.runsFor(s))
		w := s.where()
		b.each(&g, s, len(results[k]), func(i int, d *deployment) {
			r := &results[k][i]
			r.ours = judgeSequential(d, verify.Policy{})
			r.binomial = judgeSequential(d, verify.Policy{Binomial: true})
			r.at[jOurs], r.at[jBinomial] = r.ours.at, r.binomial.at
			r.at[jControl] = controlThreshold(d, errorLimit, controlFailureLimit)
			atOne, atLimit := cal[reference{w, 1}], cal[reference{w, errorLimit}]
			r.at[jControlCal] = controlThreshold(d, atOne.control, controlFailureLimit)
			r.at[jControlLimit] = controlThreshold(d, atLimit.control, controlFailureLimit)
			r.at[jBaseline] = baselineThreshold(d, errorLimit)
			r.at[jBaselineCal] = baselineThreshold(d, atOne.baseline)
			r.at[jBaselineLimit] = baselineThreshold(d, atLimit.baseline)
			r.at[jMWEnd] = mannWhitney(d, runMinutes)
			r.at[jMW10] = mannWhitney(d, 10)
			r.at[jFixed] = fixedHorizon(d, errorLimit, errorAlpha)
			r.at[jOracle] = oracle(d, errorLimit, errorAlpha)
			for j, at := range r.at {
				r.bad[j] = d.badRequests(at)
			}
			done.Add(1)
		})
	}
	g.Wait()
	return results
}
