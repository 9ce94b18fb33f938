package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/safedeploy/safedeploy/verify"
)

// summary condenses one judge's runs of one cell.
type summary struct {
	runs, rollbacks, early int     // early: rolled back before the onset
	median, p90            float64 // delay from the onset; +Inf: not within the run
	bad                    float64 // mean canary requests served during the regression
}

func summarize(s scenario, rs []result, j int) summary {
	sum := summary{runs: len(rs)}
	delays := make([]float64, len(rs))
	for i, r := range rs {
		at := r.at[j]
		delays[i] = math.Inf(1)
		if at > 0 {
			sum.rollbacks++
			delays[i] = float64(max(0, at-s.onset))
			if at <= s.onset {
				sum.early++
			}
		}
		sum.bad += r.bad[j] / float64(len(rs))
	}
	sum.median, sum.p90 = quantile(delays, 0.5), quantile(delays, 0.9)
	return sum
}

func (s summary) rate() float64 { return float64(s.rollbacks) / float64(s.runs) }

func pct(k, n int) string { return fmt.Sprintf("%.1f", 100*float64(k)/float64(n)) }

func withInterval(k, n int) string {
	lo, hi := wilson(k, n)
	return fmt.Sprintf("%s (%.1f–%.1f)", pct(k, n), 100*lo, 100*hi)
}

// minutes formats a delay; "never" prints as ">N", N the minutes from the
// onset to the end of the run.
func minutes(d float64, s scenario) string {
	if math.IsInf(d, 1) {
		return fmt.Sprintf(">%d", runMinutes-s.onset)
	}
	return fmt.Sprintf("%.0f", d)
}

// applies reports whether judge j has something to say in cell s.
func applies(s scenario, j int) bool {
	if j == jOracle {
		return s.errorRatio() > errorLimit
	}
	return !(errorsOnly(j) && s.latencyOnly())
}

// falseLimit is the bound on false rollbacks: α + 2 standard errors.
func falseLimit(n int) float64 {
	a := verify.DefaultAlpha
	return a + 2*math.Sqrt(a*(1-a)/float64(n))
}

// table writes a Markdown table.
type table struct{ w io.Writer }

func newTable(w io.Writer, header ...string) table {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	return table{w}
}

func (t table) row(cells ...string) { fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | ")) }

// A reporter writes the tables of one benchmark run.
type reporter struct {
	w       io.Writer
	b       bench
	cs      []scenario
	results [][]result
	cal     calibration
}

func report(w io.Writer, b bench, cs []scenario, results [][]result, cal calibration) {
	r := reporter{w, b, cs, results, cal}
	fmt.Fprintf(w, "Seed %d; %d runs per cell at or below the limits, %d per regression cell.\n", b.seed, b.runs, b.effectRuns)
	r.calibration()
	r.falseRollbacks()
	r.detection()
	r.badRequests()
	r.ours()
	r.targets()
}

// cells returns the indexes of the regression cells, or of the others.
func (r reporter) cells(regression bool) []int {
	var ks []int
	for k, s := range r.cs {
		if s.regression() == regression {
			ks = append(ks, k)
		}
	}
	return ks
}

func (r reporter) find(name string) int {
	for k, s := range r.cs {
		if s.name() == name {
			return k
		}
	}
	return -1
}

func (r reporter) section(title, intro string) {
	fmt.Fprintf(r.w, "\n### %s\n\n", title)
	if intro != "" {
		fmt.Fprintf(r.w, "%s\n\n", intro)
	}
}

func (r reporter) calibration() {
	r.section("Calibration of the threshold judges",
		"Factors found in-sample so that (a) with 3 fails and (b) roll back at most as many runs of the reference cell as ours.")
	t := newTable(r.w, "reference cell", "ours' rollbacks", "(a) factor", "(a) rollbacks", "(b) factor", "(b) rollbacks")
	for _, errors := range []float64{1, errorLimit} {
		for _, where := range []string{"1%", "5%", "50%", "ramp"} {
			c, ok := r.cal[reference{where, errors}]
			if !ok {
				continue
			}
			t.row(fmt.Sprintf("×%g @%s", errors, where), fmt.Sprintf("%d of %d", c.ours, c.runs),
				fmt.Sprintf("%.3g×", c.control), fmt.Sprint(c.achieved[0]),
				fmt.Sprintf("%.3g×", c.baseline), fmt.Sprint(c.achieved[1]))
		}
	}
}

func (r reporter) falseRollbacks() {
	r.section("At or below the limits: false rollbacks, % of runs (95% Wilson interval)",
		fmt.Sprintf("A rollback here is a false one: every metric is within its limit. Ours' Inconclusive endings are counted apart (not a pass; the default policy rolls those back too). The target for ours is ≤ α + 2 SE = %.1f%% at %d runs.", 100*falseLimit(r.b.runs), r.b.runs))
	header := []string{"cell", "runs"}
	for j := range jOracle {
		header = append(header, judgeNames[j])
	}
	t := newTable(r.w, append(header, "ours: inconclusive", "ours: target")...)
	for _, k := range r.cells(false) {
		s, rs := r.cs[k], r.results[k]
		row := []string{s.name(), fmt.Sprint(len(rs))}
		for j := range jOracle {
			if !applies(s, j) {
				row = append(row, "—")
				continue
			}
			row = append(row, withInterval(summarize(s, rs, j).rollbacks, len(rs)))
		}
		inconclusive := 0
		for _, res := range rs {
			if res.ours.inconclusive && res.ours.at == 0 {
				inconclusive++
			}
		}
		ok := "met"
		if f := summarize(s, rs, jOurs); f.rate() > falseLimit(f.runs) {
			ok = "**not met**"
		}
		t.row(append(row, pct(inconclusive, len(rs)), ok)...)
	}
}

func (r reporter) regressionHeader() []string {
	header := []string{"cell", "runs"}
	for j := range nJudges {
		header = append(header, judgeNames[j])
	}
	return header
}

func (r reporter) detection() {
	r.section("Regressions: detected within 60 min, %; delay from the onset, median / 90th percentile, minutes",
		"Each entry: detected % · median / 90th percentile delay. Undetected runs count as infinitely late, so \">60\" (\">30\" for a regression from minute 30) means that quantile was not reached within the run. Rollbacks before a late onset count as detected with delay 0 and are noted. Latency-only cells have no error-rate effect for the error-rate judges to find (—); the oracle runs only for error-rate regressions.")
	t := newTable(r.w, r.regressionHeader()...)
	for _, k := range r.cells(true) {
		s, rs := r.cs[k], r.results[k]
		row := []string{s.name(), fmt.Sprint(len(rs))}
		for j := range nJudges {
			if !applies(s, j) {
				row = append(row, "—")
				continue
			}
			f := summarize(s, rs, j)
			cell := fmt.Sprintf("%s · %s / %s", pct(f.rollbacks, f.runs), minutes(f.median, s), minutes(f.p90, s))
			if f.early > 0 {
				cell += fmt.Sprintf(" (%d before onset)", f.early)
			}
			row = append(row, cell)
		}
		t.row(row...)
	}
}

func (r reporter) badRequests() {
	r.section("Regressions: bad requests, mean canary requests served from the onset until the rollback (or the end of the run)", "")
	t := newTable(r.w, r.regressionHeader()...)
	for _, k := range r.cells(true) {
		s, rs := r.cs[k], r.results[k]
		row := []string{s.name(), fmt.Sprint(len(rs))}
		for j := range nJudges {
			if !applies(s, j) {
				row = append(row, "—")
				continue
			}
			row = append(row, fmt.Sprintf("%.0f", summarize(s, rs, j).bad))
		}
		t.row(row...)
	}
}

func (r reporter) ours() {
	r.section("Ours in detail: which metric triggered, Inconclusive endings, the P95 rule's bound",
		"Shares of runs, %. A rollback can name several metrics; each metric's share of α is 1%. \"Inconclusive\" counts runs not rolled back in which a window ended Inconclusive. \"P95 at 250ms\" is the share of runs in which the P95 rule counted requests above 250 ms (else 100 ms).")
	t := newTable(r.w, "cell", "true ratios (limit)", "variant", "rolled back", "error-rate", "latency-p50", "latency-p95", "latency-p99", "business-rate", "inconclusive", "P95 at 250ms")
	for k, s := range r.cs {
		for _, v := range []struct {
			name string
			get  func(result) sequential
		}{{"ours", func(r result) sequential { return r.ours }}, {"binomial", func(r result) sequential { return r.binomial }}} {
			rs := r.results[k]
			var rolled, inconclusive, at250 int
			var triggered [len(metricNames)]int
			for _, res := range rs {
				o := v.get(res)
				if o.at > 0 {
					rolled++
				} else if o.inconclusive {
					inconclusive++
				}
				if o.p95Bound == 0.25 {
					at250++
				}
				for i := range metricNames {
					if o.triggered&(1<<i) != 0 {
						triggered[i]++
					}
				}
			}
			row := []string{s.name(), describe(s), v.name, pct(rolled, len(rs))}
			for i := range metricNames {
				row = append(row, pct(triggered[i], len(rs)))
			}
			t.row(append(row, pct(inconclusive, len(rs)), pct(at250, len(rs)))...)
		}
	}
}

// describe lists the true ratios that differ from 1, with their limits.
func describe(s scenario) string {
	var parts []string
	for _, t := range truths(s) {
		if math.Abs(t.ratio-1) > 1e-9 {
			parts = append(parts, fmt.Sprintf("%s %.3g (%g)", strings.TrimPrefix(t.metric, "latency-"), t.ratio, t.limit))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// targets checks the targets for detection and delay.
func (r reporter) targets() {
	r.section("Targets: detection ≥ 90% within 60 min", "")
	t := newTable(r.w, "cell", "ours", "ours, binomial", "target")
	for _, name := range []string{"×5 @5%", "×3 @50%", "×10 @1%", "P95 +50% @5%"} {
		k := r.find(name)
		if k < 0 {
			continue
		}
		o, p := summarize(r.cs[k], r.results[k], jOurs), summarize(r.cs[k], r.results[k], jBinomial)
		ok := "met"
		if o.rate() < 0.9 {
			ok = "**not met**"
		}
		t.row(name, pct(o.rollbacks, o.runs)+"%", pct(p.rollbacks, p.runs)+"%", ok)
	}

	r.section("Targets: median delay within 1.5× the oracle's and no slower than the best calibrated baseline",
		"Medians in minutes from the onset. \"Best\" is the faster of (a) and (b) calibrated on the same reference.")
	t = newTable(r.w, "cell", "ours", "oracle", "ours ÷ oracle", "≤ 1.5×", "best cal. at ×1", "no slower", "best cal. at ×2", "no slower")
	for _, k := range r.cells(true) {
		s, rs := r.cs[k], r.results[k]
		if !applies(s, jOracle) {
			continue
		}
		o, or := summarize(s, rs, jOurs), summarize(s, rs, jOracle)
		row := []string{s.name(), minutes(o.median, s), minutes(or.median, s), fmt.Sprintf("%.2f", o.median/or.median), yes(o.median <= 1.5*or.median)}
		for _, pair := range [][2]int{{jControlCal, jBaselineCal}, {jControlLimit, jBaselineLimit}} {
			a, b := summarize(s, rs, pair[0]), summarize(s, rs, pair[1])
			best, name := a.median, "(a)"
			if b.median < best {
				best, name = b.median, "(b)"
			}
			row = append(row, fmt.Sprintf("%s %s", minutes(best, s), name), yes(o.median <= best))
		}
		t.row(row...)
	}
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
