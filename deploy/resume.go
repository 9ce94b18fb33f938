package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

// This file holds what Run does with a run an earlier process left
// unfinished: read its journal, reconcile it with the target, and either
// resume it at the step it was in (RecoverResume, when the strategy is a
// strategy.Resumer and the target's state fits) or roll back what it did.

// interrupted is what a crashed run's journal says it did.
type interrupted struct {
	before   *journal.Fleet   // the fleet before its first change
	baseline *verify.Baseline // the last baseline it judged against
	route    *journal.Change  // the last route to the new version it asked for
	side     string           // the version it last asked the switch for
	exposed  bool             // the new version may have served traffic
	changed  bool             // it asked for a change to the target
	flagOff  bool             // the kill switch was turned off: done, not only intended
	decided  bool             // it (or a recovery of it) decided to roll back
	paused   bool             // an operator's pause held its last step
	// unsettled: its last verdict was inconclusive, and nothing shows a
	// person let it go on (a step reached or a change asked for after).
	unsettled bool
	last      int64 // the last entry's Seq
}

// scan reads a crashed run's entries.
func scan(entries []journal.Entry, crashed journal.Run, p *Plan) interrupted {
	var in interrupted
	for _, e := range entries {
		in.last = max(in.last, e.Seq)
		switch e.Type {
		case journal.TypeStep:
			// A step reached: the verdicts before it let the run go on. (A
			// pause posted before it still holds: a paused step cannot
			// pass, so the run never read it.)
			if c, err := journal.ChangeOf(e); err == nil && c.Op == "step" {
				in.unsettled = false
			}
		case journal.TypeVerdict:
			// A step that failed is never resumed; one that ended
			// inconclusive went on only once a person said so (a step
			// reached after it), and the process may have died asking.
			switch {
			case strings.HasPrefix(e.Message, verify.Fail.String()+":"):
				in.decided = true
			case strings.HasPrefix(e.Message, verify.Inconclusive.String()+":"):
				in.unsettled = true
			}
		case journal.TypeControl:
			if c, err := journal.ControlOf(e); err == nil {
				switch c.Op {
				case journal.Pause:
					in.paused = true
				case journal.Resume, journal.Promote:
					in.paused = false
				case journal.Abort:
					// An operator's abort, read or not: roll back.
					in.decided = true
				}
			}
		case journal.TypeFleet:
			var f journal.Fleet
			if json.Unmarshal(e.Data, &f) == nil {
				in.before = &f
			}
		case journal.TypeBaseline:
			var b baselineData
			if json.Unmarshal(e.Data, &b) == nil {
				in.baseline = b.baseline()
			}
		case journal.TypeIntent:
			in.changed = true
			in.unsettled = false
			c, err := journal.ChangeOf(e)
			if err != nil {
				continue
			}
			switch c.Op {
			case "route":
				if c.Version == crashed.To {
					in.route = &c
				}
			case "switch":
				in.side = c.Version
			}
			// An intent may have been carried out before the crash: count
			// its exposure as if it had.
			switch {
			case c.Op == "route" && c.Version == crashed.To && c.Weight > 0,
				c.Op == "switch" && c.Version == crashed.To,
				c.Op == "start" && c.Version == crashed.To && p.Target.Router == nil && p.Target.Switch == nil:
				in.exposed = true
			}
		case journal.TypeDone:
			if c, err := journal.ChangeOf(e); err == nil && c.Op == "flag" && !c.Enabled {
				in.flagOff = true
			}
		case journal.TypeDecision:
			// A failing verdict, an operator's abort, or a recovery that
			// rolled back: what is left is to finish that rollback.
			in.decided = true
		}
	}
	if in.unsettled {
		in.decided = true // no one said to go on: roll back
	}
	return in
}

// takeoverData is the Data of a takeover entry: who took the run over and
// what it does with it.
type takeoverData struct {
	Holder string `json:"holder"`
	Token  int64  `json:"token"`
	// Resume is set when the holder resumes the run at step At (as the
	// strategy's StepsFor numbers them; Step names it). Otherwise it rolls
	// the run back, and Why says why it did not resume when the plan asked
	// for it.
	Resume bool   `json:"resume,omitempty"`
	At     int    `json:"at,omitempty"`
	Step   string `json:"step,omitempty"`
	Why    string `json:"why,omitempty"`
}

// heldPause reports, once, whether an operator's pause held the step the
// run resumes at: the resumed step starts paused.
func (r *run) heldPause() bool {
	if r.journal == nil {
		return false
	}
	r.journal.mu.Lock()
	defer r.journal.mu.Unlock()
	p := r.journal.paused
	r.journal.paused = false
	return p
}

// resuming returns the interrupted run this run resumes, or nil.
func (r *run) resuming() *resumption {
	if r.journal == nil {
		return nil
	}
	r.journal.mu.Lock()
	defer r.journal.mu.Unlock()
	return r.journal.resume
}

// A resumption is an interrupted run Run resumes.
type resumption struct {
	crashed  journal.Run
	before   *journal.Fleet
	at       strategy.Position
	where    string              // the step, in words
	serves   bool                // the previous version serves traffic now
	found    []strategy.Instance // the instances the target reported at the takeover
	baseline *verify.Baseline    // the interrupted run's, for when it does not
}

// position finds where the interrupted run stood among steps: the step it
// last reached, or the one after it when a change followed (the strategy
// changes the target for the next step only once the Gate let it go on).
// A resumption's takeover entry sets the position it resumed at, so that a
// recovery of a recovery resumes there too.
func position(entries []journal.Entry, steps []strategy.Step) (int, error) {
	at, observing := 0, false
	for _, e := range entries {
		switch e.Type {
		case journal.TypeTakeover:
			var td takeoverData
			if json.Unmarshal(e.Data, &td) == nil && td.Resume {
				if td.At < 0 || td.At > len(steps) {
					return 0, fmt.Errorf("takeover entry %d resumed at step %d, not one of the strategy's %d steps for this fleet", e.Seq, td.At, len(steps))
				}
				at, observing = td.At, false
			}
		case journal.TypeStep:
			c, err := journal.ChangeOf(e)
			if err != nil || c.Op != "step" {
				continue // an operator's control, not a step reached
			}
			i := slices.IndexFunc(steps, func(s strategy.Step) bool { return s.Name == c.Name })
			if i < 0 {
				names := make([]string, len(steps))
				for j, s := range steps {
					names[j] = fmt.Sprintf("%q", s.Name)
				}
				return 0, fmt.Errorf("the interrupted run reached step %q, not one of the strategy's steps for this fleet (%s)", c.Name, strings.Join(names, ", "))
			}
			at, observing = i, true
		case journal.TypeIntent:
			if observing {
				at, observing = at+1, false
			}
		}
	}
	return at, nil
}

// planResume decides whether the interrupted run can be resumed, and
// where; when it cannot, it says why.
func (r *run) planResume(ctx context.Context, crashed journal.Run, hash string, in interrupted, entries []journal.Entry) (*resumption, string) {
	p := r.plan
	rs, ok := p.Strategy.(strategy.Resumer)
	switch {
	case crashed.PlanHash != hash:
		return nil, fmt.Sprintf("it was a run of another plan (plan hash %s, this plan's %s)", crashed.PlanHash, hash)
	case in.decided:
		return nil, "it had decided to roll back (a failing verdict, an inconclusive one no one let go on, an operator's abort, or a recovery that rolled back): its rollback is finished and the version is not deployed again"
	case !ok:
		return nil, fmt.Sprintf("strategy %s (%T) cannot resume: it is not a strategy.Resumer", p.describe().Name, p.Strategy)
	case in.before == nil || in.before.Version != crashed.From || len(in.before.Instances) == 0:
		return nil, "its journal does not say which instances of " + crashed.From + " ran before the deployment"
	}
	var steps []strategy.Step
	if err := guard("Strategy.StepsFor", func() { steps = rs.StepsFor(p.Target, len(in.before.Instances)) }); err != nil {
		return nil, err.Error()
	}
	at, err := position(entries, steps)
	if err != nil {
		return nil, err.Error()
	}
	found, serves, err := r.previousServes(ctx, crashed, in)
	if err != nil {
		return nil, "the target's state could not be read: " + err.Error()
	}
	if !serves && in.baseline == nil {
		return nil, crashed.From + " serves no traffic now, so no fresh baseline can be read, and the journal holds none"
	}
	where := "the closing changes after its last step"
	if at < len(steps) {
		where = fmt.Sprintf("step %q (%d of %d)", steps[at].Name, at+1, len(steps))
	}
	return &resumption{
		crashed: crashed, before: in.before, where: where, serves: serves, baseline: in.baseline, found: found,
		at: strategy.Position{Step: at, Before: slices.Clone(in.before.Instances)},
	}, ""
}

// previousServes reports whether the previous version serves traffic now,
// as the target reports it where it can (the fleet's instances, a
// RouterState's weight, a SwitchState's side), else as the journal says it
// was last asked: then a change asked for counts as made.
func (r *run) previousServes(ctx context.Context, crashed journal.Run, in interrupted) (insts []strategy.Instance, serves bool, err error) {
	t := r.plan.Target
	insts, err = call(ctx, "Fleet.Instances", r.timeouts.Call, t.Fleet.Instances)
	if err != nil {
		return nil, false, fmt.Errorf("list instances: %w", err)
	}
	if !slices.ContainsFunc(insts, func(in strategy.Instance) bool { return in.Version == crashed.From }) {
		return insts, false, nil
	}
	if t.Router != nil {
		weight := 0.0
		if in.route != nil {
			weight = in.route.Weight
		}
		if rs, ok := t.Router.(strategy.RouterState); ok {
			type routing struct {
				stable, canary string
				weight         float64
			}
			got, err := call(ctx, "Router.Routing", r.timeouts.Call, func(ctx context.Context) (routing, error) {
				s, c, w, err := rs.Routing(ctx)
				return routing{s, c, w}, err
			})
			if err == nil && got.canary == crashed.To {
				weight = got.weight
			}
		}
		if weight >= 100 {
			return insts, false, nil
		}
	}
	if t.Switch != nil {
		side := in.side
		if ss, ok := t.Switch.(strategy.SwitchState); ok {
			if v, err := call(ctx, "Switch.Current", r.timeouts.Call, ss.Current); err == nil {
				side = v
			}
		}
		if side == crashed.To {
			return insts, false, nil
		}
	}
	return insts, true, nil
}

// recordFound reconciles the journal with the target before a resume. An
// instance of the new version that the interrupted run started but did not
// see become ready — its start failed, or the process died while it
// started or before it wrote that the start succeeded — may never become
// ready, and nothing tells: it is stopped (a change the journal records as
// any other), and the resumed strategy starts what its step lacks. Only as
// many unknown instances are taken for the run's as it had starts
// unaccounted for; more are someone else's, left for the strategy to
// refuse. An instance of the fleet before the deployment no longer running
// whose stop the journal does not record as done is written as done. The
// journal then describes the fleet the resumed run takes over.
func (r *run) recordFound(ctx context.Context, entries []journal.Entry, res *resumption) error {
	started, failed, stopped := map[string]bool{}, map[string]bool{}, map[string]bool{}
	pending := 0 // starts of the new version asked for, never answered
	for _, e := range entries {
		c, err := journal.ChangeOf(e)
		if err != nil {
			continue
		}
		switch {
		case c.Op == "start" && c.Version == res.crashed.To && e.Type == journal.TypeIntent:
			pending++
		case c.Op == "start" && e.Type == journal.TypeDone:
			started[c.Instance] = true
			pending--
		case c.Op == "start" && e.Type == journal.TypeFailed:
			failed[c.Instance] = true
			pending--
		case c.Op == "stop" && e.Type == journal.TypeDone:
			stopped[c.Instance] = true
		}
	}
	running := map[string]bool{}
	var unready, unknown []string
	for _, in := range res.found {
		running[in.ID] = true
		switch {
		case in.Version != res.crashed.To || started[in.ID]:
		case failed[in.ID]:
			unready = append(unready, in.ID)
		default:
			unknown = append(unknown, in.ID)
		}
	}
	if len(unknown) <= pending {
		unready = append(unready, unknown...)
	}
	var es []journal.Entry
	for _, id := range res.before.Instances {
		if !running[id] && !stopped[id] {
			if e, err := journal.NewEntry(journal.TypeDone, "instance "+id+" of "+res.crashed.From+" found stopped: its stop was not recorded", journal.Change{Op: "stop", Instance: id}); err == nil {
				es = append(es, e)
			}
		}
	}
	if len(es) > 0 {
		_ = r.write(ctx, es...) // a failed write stops the run at its next action
		r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: fmt.Sprintf("journal reconciled with the target: %d stop(s) the interrupted run made but did not record", len(es))})
	}
	fleet := r.target().Fleet
	for _, id := range unready {
		r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: fmt.Sprintf("instance %s of %s found running, but the interrupted run did not see it become ready: it is stopped, and started again as its step needs", id, res.crashed.To)})
		if err := fleet.Stop(ctx, id); err != nil {
			// Resumed, the strategy would count it as ready: roll back.
			return fmt.Errorf("instance %s of %s, never seen ready, could not be stopped: %w", id, res.crashed.To, err)
		}
	}
	return nil
}

// recoverRun takes over a run that an earlier holder left unfinished: it
// reads its journal, records the takeover and what this holder does with
// it, and either sets the run up to be resumed (a nil report: Run goes on
// with the interrupted run, see run.resuming) or puts the target back on the
// run's previous version, reconciling the journal with what the target
// reports (or leaves the new one for a roll forward, as the decision table
// says).
//
// again reports that Run goes on with a run of its own once the recovery
// is done: the interrupted run was another plan's, or it changed nothing
// and the plan asks to resume, which is then to run it from its start.
func (r *run) recoverRun(ctx context.Context, crashed journal.Run, hash string) (rep *Report, again bool, err error) {
	jr := r.journal
	p := r.plan
	jr.mu.Lock()
	jr.id = crashed.ID
	jr.undoing = true
	token := jr.lease.Token
	jr.mu.Unlock()
	r.report.Record.Runbook.Previous, r.report.Record.Runbook.Version = crashed.From, crashed.To
	entries, rerr := call(ctx, "Journal.Entries", r.timeouts.Call, func(ctx context.Context) ([]journal.Entry, error) { return jr.j.Entries(ctx, crashed.ID, 0) })
	in := scan(entries, crashed, p)
	var res *resumption
	why := ""
	if p.Recover == RecoverResume && rerr == nil && in.changed {
		res, why = r.planResume(ctx, crashed, hash, in, entries)
	}

	td := takeoverData{Holder: jr.holder, Token: token, Why: why}
	what := ""
	switch {
	case res != nil:
		td.Resume, td.At, td.Step = true, res.at.Step, res.where
		what = "; resuming it at " + res.where + ", as the plan asks (Plan.Recover = resume) and the target's state allows"
		if in.paused {
			what += "; an operator's pause still holds the step"
		}
	case why != "":
		what = "; it cannot be resumed (" + why + "): rolling it back"
	}
	r.emit(ctx, Event{Kind: KindPhase, Phase: PhaseDecide, Message: fmt.Sprintf("taking over run %s of %s %s → %s, left unfinished by %s (lease token %d); this holder has token %d%s",
		crashed.ID, crashed.Service, crashed.From, crashed.To, crashed.Holder, crashed.Token, token, what)})
	if e, err := journal.NewEntry(journal.TypeTakeover, fmt.Sprintf("taken over by %s with token %d%s", jr.holder, token, what), td); err == nil {
		_ = r.write(ctx, e)
	}
	if rerr != nil {
		rep, err := r.finish(ctx, RollbackFailed, "the interrupted run's journal could not be read", fmt.Errorf("%w: read run %s: %w", ErrRollbackFailed, crashed.ID, rerr))
		return rep, false, err
	}
	if !in.changed {
		r.emit(ctx, Event{Kind: KindDecision, Phase: PhaseDecide, Message: "the interrupted run changed nothing on the target: nothing to undo"})
		rep, err := r.finish(ctx, Aborted, fmt.Sprintf("run %s was interrupted before it changed anything; nothing to undo", crashed.ID), fmt.Errorf("%w: run %s interrupted", ErrAborted, crashed.ID))
		return rep, crashed.PlanHash != hash || p.Recover == RecoverResume && !in.decided, err
	}
	if res != nil {
		jr.mu.Lock()
		jr.undoing = false
		jr.mu.Unlock()
		err := r.recordFound(ctx, entries, res)
		if err == nil {
			err = r.allowed()
		}
		if err != nil {
			// The takeover is not recorded: never go on unrecorded.
			jr.mu.Lock()
			jr.undoing = true
			jr.mu.Unlock()
			res, why = nil, err.Error()
		} else {
			// The controls the interrupted run read are not obeyed twice (a
			// promote must not cut the resumed step's observation short),
			// but a pause it was holding still holds.
			jr.mu.Lock()
			jr.resume, jr.seen, jr.paused = res, in.last, in.paused
			jr.mu.Unlock()
			r.mu.Lock()
			r.changed, r.changes = 1, []string{"the changes of interrupted run " + crashed.ID}
			r.exposed = in.exposed
			r.mu.Unlock()
			return nil, false, nil
		}
	}
	rep, err = r.rollBackInterrupted(ctx, crashed, in.before, in.exposed, in.flagOff, why)
	return rep, crashed.PlanHash != hash, err
}

// rollBackInterrupted puts the target back on the crashed run's previous
// version, reconciling its journal with what the target reports, as the
// decision table says. why, if set, is why the run was not resumed.
func (r *run) rollBackInterrupted(ctx context.Context, crashed journal.Run, before *journal.Fleet, exposed, flagOff bool, why string) (*Report, error) {
	p := r.plan
	cause := fmt.Errorf("run %s was interrupted: its holder %s stopped renewing its lease", crashed.ID, crashed.Holder)
	if why != "" {
		cause = fmt.Errorf("%w; it could not be resumed: %s", cause, why)
	}
	d := r.decide(ctx, Failure{
		Phase:          PhaseDeploy,
		Interrupted:    true,
		FlagControlled: p.KillSwitch != "" && !flagOff,
		DataMutated:    p.Change.MutatesData && exposed,
	}, cause)
	reason := d.Reason
	if why != "" {
		reason += "; not resumed: " + why
	}

	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(p.UndoTimeout, DefaultUndoTimeout))
	defer cancel()
	began := time.Now()
	var errs []error
	outcome := RolledBack
	for _, a := range d.Actions {
		switch a {
		case FlagOff:
			if err := r.flagOff(uctx); err != nil {
				errs = append(errs, err)
			}
		case RollBack:
			if err := r.reconcile(uctx, crashed, before); err != nil {
				errs = append(errs, err)
			}
		case RollForward:
			outcome = RollForwardRequired
		}
	}
	r.mu.Lock()
	r.report.Record.RollbackSeconds = time.Since(began).Seconds()
	r.mu.Unlock()
	switch {
	case len(errs) > 0:
		return r.finish(ctx, RollbackFailed, reason+"; but the rollback did not finish", fmt.Errorf("%w: %w", ErrRollbackFailed, errlist.Join(errs...)))
	case outcome == RollForwardRequired:
		return r.finish(ctx, RollForwardRequired, reason, fmt.Errorf("%w: run %s was interrupted after %s served traffic", ErrRollForward, crashed.ID, crashed.To))
	}
	return r.finish(ctx, RolledBack, reason, fmt.Errorf("%w: %w", ErrRolledBack, cause))
}

// abandon gives up resuming the interrupted run — its pre-flight failed, or
// the strategy found the target's state does not fit the step — and rolls
// it back instead.
func (r *run) abandon(ctx context.Context, cause error) (*Report, error) {
	res := r.resuming()
	r.journal.mu.Lock()
	r.journal.resume, r.journal.undoing = nil, true
	r.journal.mu.Unlock()
	r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: "the interrupted run cannot be resumed: rolling it back", Err: cause})
	r.mu.Lock()
	exposed := r.exposed
	r.mu.Unlock()
	return r.rollBackInterrupted(ctx, res.crashed, res.before, exposed, false, cause.Error())
}

// deployResumed resumes the interrupted run's strategy at its step.
func (r *run) deployResumed(ctx context.Context) (strategy.Undo, error) {
	p, res := r.plan, r.resuming()
	r.phase(ctx, PhaseDeploy, fmt.Sprintf("resuming the deployment of %s by %s at %s", p.Version, p.describe().Name, res.where))
	var undo strategy.Undo
	var err error
	if perr := guard("Strategy.Resume", func() {
		undo, err = p.Strategy.(strategy.Resumer).Resume(ctx, r.target(), strategy.Release{From: p.Previous, To: p.Version}, res.at, strategy.GateFunc(r.check))
	}); perr != nil {
		return nil, perr
	}
	return undo, err
}

// resumedBaseline returns the interrupted run's baseline when the run is
// resumed and the previous version serves no traffic now, so that none
// can be read fresh; ok is false otherwise.
func (r *run) resumedBaseline() (b verify.Baseline, note string, ok bool) {
	res := r.resuming()
	if res == nil || res.serves || res.baseline == nil {
		return b, "", false
	}
	return *res.baseline, fmt.Sprintf("the interrupted run's baseline, since %s serves no traffic now: ", res.crashed.From), true
}

// writeBaseline records the baseline in the journal, so that a run that
// resumes this one where the previous version no longer serves can judge
// against it.
func (r *run) writeBaseline(ctx context.Context, b verify.Baseline) {
	if r.journal == nil {
		return
	}
	if e, err := journal.NewEntry(journal.TypeBaseline, fmt.Sprintf("baseline of %s from %s to %s", b.Version, b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339)), newBaselineData(b)); err == nil {
		_ = r.write(ctx, e)
	}
}

// baselineData is the Data of a baseline entry: a verify.Baseline with its
// histogram's +Inf bound, which JSON cannot hold, as a flag.
type baselineData struct {
	Version  string       `json:"version"`
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end"`
	Requests float64      `json:"requests"`
	Errors   float64      `json:"errors"`
	Business float64      `json:"business,omitempty"`
	Latency  []bucketData `json:"latency,omitempty"`
}

type bucketData struct {
	LE    float64 `json:"le,omitempty"`
	Inf   bool    `json:"inf,omitempty"`
	Count float64 `json:"count"`
}

func newBaselineData(b verify.Baseline) baselineData {
	d := baselineData{Version: b.Version, Start: b.Start, End: b.End, Requests: b.Requests, Errors: b.Errors, Business: b.Business}
	for _, bk := range b.Latency {
		if math.IsInf(bk.UpperBound, 1) {
			d.Latency = append(d.Latency, bucketData{Inf: true, Count: bk.Count})
		} else {
			d.Latency = append(d.Latency, bucketData{LE: bk.UpperBound, Count: bk.Count})
		}
	}
	return d
}

// baseline decodes d, or returns nil when it is not a possible baseline.
func (d baselineData) baseline() *verify.Baseline {
	b := verify.Baseline{Version: d.Version, Start: d.Start, End: d.End, Observation: verify.Observation{Requests: d.Requests, Errors: d.Errors, Business: d.Business}}
	for _, bk := range d.Latency {
		le := bk.LE
		if bk.Inf {
			le = math.Inf(1)
		}
		b.Latency = append(b.Latency, verify.Bucket{UpperBound: le, Count: bk.Count})
	}
	if b.Observation.Validate() != nil || b.Requests == 0 {
		return nil
	}
	return &b
}
