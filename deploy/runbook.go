package deploy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/verify"
)

// Rollback-time estimates used by Plan.Runbook.
const (
	flagOffTime = 5 * time.Second  // a store write, seen at the next flag read
	trafficTime = 10 * time.Second // a router or switch change
)

// Runbook fills the runbook's eight fields from the plan, for a deployment
// starting at date: how to verify comes from the verification policy and the
// strategy's windows, the rollback plan from the decision table, and the
// time to roll back from the kill switch and the strategy.
func (p *Plan) Runbook(date time.Time) runbook.Runbook {
	d := p.describe()
	return runbook.Runbook{
		Service: p.Service, Version: p.Version, Previous: p.Previous,
		Environment: string(p.Environment), Strategy: d.Name,
		Date: date, Engineer: p.Change.Engineer,
		Changes: p.Change.What, Why: p.Change.Why, Expected: p.Change.Expected,
		Verify:       p.verifySteps(),
		Rollback:     p.rollbackSteps(),
		RollbackTime: p.rollbackTime(),
	}
}

func (p *Plan) verifySteps() []string {
	pol := p.Verify.WithDefaults()
	floor := ""
	if pol.MinErrorRate > 0 { // negative: no floor
		floor = fmt.Sprintf(" (a rate below %g%% counts as %g%%)", 100*pol.MinErrorRate, 100*pol.MinErrorRate)
	}
	out := []string{fmt.Sprintf("error rate at most %g× the old version's, measured against the old version serving at the same time where there is one, else the pre-deploy baseline%s",
		pol.MaxErrorRatio, floor)}
	var lat []string
	for _, l := range []struct {
		name  string
		ratio float64
	}{{"P50", pol.Latency.P50}, {"P95", pol.Latency.P95}, {"P99", pol.Latency.P99}} {
		if !math.IsInf(l.ratio, 1) {
			lat = append(lat, fmt.Sprintf("%g× as many above its %s", l.ratio, l.name))
		}
	}
	if len(lat) > 0 {
		out = append(out, fmt.Sprintf("latency: of requests slower than the baseline's quantiles, at most %s as the old version", strings.Join(lat, ", ")))
	}
	if pol.MaxBusinessDrop < 1 {
		out = append(out, fmt.Sprintf("business events per request at least %g%% of the baseline's", 100*(1-max(pol.MaxBusinessDrop, 0))))
	}
	if len(pol.Probes) > 0 {
		names := make([]string, len(pol.Probes))
		for i, pr := range pol.Probes {
			names[i] = pr.Name
		}
		out = append(out, "critical paths probed at every interval, any failure rolls back at the end of its interval: "+strings.Join(names, ", "))
	}
	if p.Logs != nil {
		pp := pol.Patterns.WithDefaults()
		out = append(out, fmt.Sprintf("logs: a template of %s-or-worse lines the new version logs at more than %g× the old version's rate per request (%g%% family-wise confidence, at least %g lines) is a new error pattern, and %s",
			pp.Level.Level(), pp.MaxRatio, 100*(1-pp.Alpha), pp.MinCount, runbookAction(pp.Action)))
	}
	out = append(out, fmt.Sprintf("metrics read every %s; baseline: %s before the deployment; a limit counts as crossed only when the data show it at %g%% family-wise confidence; the final window passes only with %g requests on the new version, and every window only with good data; %d failed reads in a row roll back",
		pol.Interval, pol.BaselineWindow, 100*(1-pol.Alpha), max(pol.MinRequests, 0), pol.MaxConsecutiveErrors))
	for _, s := range p.describe().Steps {
		out = append(out, "step: "+s)
	}
	if pol.Window > 0 {
		out = append(out, fmt.Sprintf("every observed step's window is set to %s by the policy", pol.Window))
	}
	if p.Change.Significant {
		out = append(out, fmt.Sprintf("significant feature: the final window lasts at least %s, a full daily cycle", pol.SignificantWindow))
	}
	if p.Verify.Escalate != nil {
		out = append(out, "a window that ends inconclusive is escalated to a person")
	} else {
		out = append(out, "a window that ends inconclusive rolls back")
	}
	return out
}

// runbookAction says what a new error pattern does, for the runbook.
func runbookAction(a verify.PatternAction) string {
	switch a {
	case verify.PatternRollback:
		return "rolls back"
	case verify.PatternReport:
		return "is reported only"
	}
	return "holds its step: the step cannot pass and ends inconclusive"
}

func (p *Plan) rollbackSteps() []string {
	var out []string
	if p.KillSwitch != "" {
		out = append(out, fmt.Sprintf("turn the kill switch %q off: the change goes dark at the next flag read", p.KillSwitch))
	}
	back := p.describe().Back
	if p.Change.MutatesData {
		out = append(out, fmt.Sprintf("once %s has served traffic it has written data %s cannot read: do not roll back code, roll forward with a fix", p.Version, p.Previous),
			"before that, "+back)
	} else {
		out = append(out, back)
	}
	if p.Migrations != nil {
		out = append(out, "migrations are not rolled back: they keep the previous version working (expand first, contract later); a failed one is fixed forward")
	}
	return out
}

func (p *Plan) rollbackTime() time.Duration {
	d := p.describe()
	switch {
	case p.KillSwitch != "":
		return flagOffTime
	case d.Instant:
		return trafficTime
	}
	return d.BackTime
}

// entry turns an event into a runbook record entry.
func entry(e Event) runbook.Entry {
	en := runbook.Entry{Time: e.Time, Phase: string(e.Phase), Kind: string(e.Kind), Step: e.Step, Message: e.Message,
		Weight: e.Weight, WindowSeconds: e.Window.Seconds(), Outcome: string(e.Outcome)}
	if e.Err != nil {
		en.Error = e.Err.Error()
	}
	if e.Verdict != nil {
		for _, m := range e.Verdict.Measurements {
			en.Numbers = append(en.Numbers, number(m))
		}
		for _, f := range e.Verdict.Patterns {
			en.Patterns = append(en.Patterns, runbook.Pattern(f))
		}
	}
	return en
}

func number(m verify.Measurement) runbook.Number { return runbook.Number(m) }
