package deploy

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/strategy"
)

// ErrInProgress is wrapped by Run's error when another holder has the
// service's lease: another deployment of the service in the environment is
// under way. The error also wraps a *journal.HeldError naming the holder,
// its run and when it started. Nothing was changed.
var ErrInProgress = errors.New("deploy: another deployment of the service is in progress")

// ErrFenced is wrapped by Run's error when the run lost its lease — it
// stalled past the lease's time-to-live and another holder took over, or
// the journal could not renew it in time. The run then stops touching the
// target at once, without undoing anything: the new holder owns the
// deployment now, and finishes it.
var ErrFenced = errors.New("deploy: lease lost to another holder")

// ErrOperatorAbort is wrapped by Run's error when an operator aborted the
// deployment through the journal (journal.Abort).
var ErrOperatorAbort = errors.New("deploy: aborted by an operator")

// DefaultLeaseTTL is the lease's time-to-live when Plan.LeaseTTL is zero.
// The holder renews it every third of it, waits for a slow renewal until
// the lease is within a sixth of expiring, and stops — fenced, without
// touching the target again — if none has landed by then. Fifteen seconds
// lets a holder
// ride out a long GC pause or a database fail-over of a few seconds, and
// still lets another process take over a crashed deployment within a
// quarter of a minute — while traffic may sit on a canary no one watches.
const DefaultLeaseTTL = 15 * time.Second

// A Recovery says what Run does with a run that a previous process left
// unfinished (it crashed, or lost its lease) once its lease has expired.
type Recovery string

// The recoveries.
const (
	// RecoverRollBack, the default, puts the target back on the previous
	// version, reconciling what the journal says was done with what the
	// target reports: traffic back to the previous version, its instances
	// restored to the number that ran before, instances of the new version
	// stopped; the kill switch as the decision table says. A deployment
	// whose observation was interrupted has unobserved time on the new
	// version: the safe answer is the version known to be good.
	RecoverRollBack Recovery = "roll_back"
	// RecoverResume resumes the interrupted deployment at the step it was
	// in, when its strategy is a strategy.Resumer (Canary, Rolling,
	// BlueGreen and Direct are) and the target's state fits that step: the
	// step's changes are completed, its window observed again from its
	// start (what the crashed process observed is not counted) against a
	// fresh baseline of the previous version where that still serves
	// traffic, else against the interrupted run's own baseline from the
	// journal, and the remaining steps follow. The run goes on under its ID
	// in the journal, after a takeover entry saying where it resumed; the
	// kill switch stays as it was. Where resuming is impossible — a run of
	// another plan, a run that had decided to roll back or whose journal
	// shows a failing verdict, an inconclusive one no one let go on, or an
	// operator's abort (a version judged bad is not deployed again), a
	// strategy that cannot resume, a target
	// whose state fits no step, a pre-flight that fails — the run is rolled
	// back as with RecoverRollBack, and the takeover entry, the record and
	// the report's reason say why. A run interrupted before it changed
	// anything is run again from its start.
	RecoverResume Recovery = "resume"
)

// journaled is a run's link to its journal.
type journaled struct {
	j      journal.Journal
	ttl    time.Duration
	holder string

	mu      sync.Mutex // serializes writes, so entries keep the order of events
	lease   journal.Lease
	id      string // the run's ID
	err     error  // the first failed write; sticky
	fenced  error  // set once the lease is lost; sticky
	seen    int64  // the last entry read for controls
	cancel  context.CancelCauseFunc
	undoing bool        // the run is rolling back: a failed write no longer stops it
	resume  *resumption // the interrupted run this run resumes, if it does (see resume.go)
	paused  bool        // an operator's pause held the step it resumes at
}

// holderName names this process: "host/pid".
func holderName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// newRunID returns a random run ID.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// planHash identifies the plan's deployment: the same service, versions,
// environment and strategy configuration hash the same.
func (p *Plan) planHash() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%T%+v", p.Service, p.Environment, p.Previous, p.Version, p.Strategy, p.Strategy))
	return hex.EncodeToString(h[:8])
}

// openJournal takes the service's lease, finishes what an earlier run left
// unfinished, and begins this run. It returns the context the run goes on
// with, which ends when the lease is lost. A non-nil report ends Run: the
// service is held by someone else, the plan already completed, or the
// recovery was this plan's.
func (r *run) openJournal(ctx context.Context) (context.Context, *Report, error) {
	p := r.plan
	jr := &journaled{j: p.Journal, ttl: cmp.Or(p.LeaseTTL, DefaultLeaseTTL), holder: cmp.Or(p.Holder, holderName())}
	key := journal.Key(p.Service, string(p.Environment))
	lease, err := call(ctx, "Journal.Acquire", r.timeouts.Call, func(ctx context.Context) (journal.Lease, error) {
		return jr.j.Acquire(ctx, key, jr.holder, jr.ttl)
	})
	if err != nil {
		if errors.Is(err, journal.ErrHeld) {
			err = fmt.Errorf("%w: %w", ErrInProgress, err)
			rep, err := r.finish(ctx, Aborted, "another deployment of "+key+" is in progress; nothing was changed", err)
			return ctx, rep, err
		}
		rep, err := r.finish(ctx, Aborted, "the journal could not be read; nothing was changed", fmt.Errorf("%w: take the lease: %w", ErrPreflight, err))
		return ctx, rep, err
	}
	jr.lease = lease
	rctx, cancel := context.WithCancelCause(ctx)
	jr.cancel = cancel
	r.journal = jr
	go r.renew(rctx)

	runs, err := call(rctx, "Journal.Runs", r.timeouts.Call, func(ctx context.Context) ([]journal.Run, error) { return jr.j.Runs(ctx, key, 1) })
	if err != nil {
		rep, err := r.finish(rctx, Aborted, "the journal could not be read; nothing was changed", fmt.Errorf("%w: read the journal: %w", ErrPreflight, err))
		return rctx, rep, err
	}
	hash := p.planHash()
	if len(runs) == 1 {
		last := runs[0]
		switch {
		case last.Finished.IsZero():
			rep, again, err := r.recoverRun(rctx, last, hash)
			if rep == nil {
				return rctx, nil, nil // resuming the interrupted run: Run goes on with it
			}
			if !again || rep.Outcome == RollbackFailed || rep.Outcome == RollForwardRequired || r.journal.isFenced() != nil {
				return rctx, rep, err
			}
			// The target is back on the previous version (or was never
			// changed): a different plan, or a resume of a run that
			// changed nothing, goes on with a run of its own.
			jr.mu.Lock()
			jr.id, jr.undoing, jr.seen = "", false, 0
			jr.mu.Unlock()
			r.mu.Lock()
			r.changes, r.changed, r.exposed = nil, 0, false // the recovery's, not this run's
			r.report = &Report{}
			r.mu.Unlock()
			r.report.Record.Started = time.Now()
			r.report.Record.Runbook = p.Runbook(r.report.Record.Started)
		case last.PlanHash == hash && last.Outcome == string(Completed):
			r.report.Outcome, r.report.Reason = Completed, fmt.Sprintf("%s already completed in %s at %s (run %s); nothing was changed", p.Version, p.Environment, last.Finished.Format(time.RFC3339), last.ID)
			r.report.Record.Outcome, r.report.Record.Reason = string(Completed), r.report.Reason
			r.report.Record.Finished = time.Now()
			return rctx, r.report, nil
		}
	}
	jr.id = newRunID()
	err = call0(rctx, "Journal.Begin", r.timeouts.Call, func(ctx context.Context) error {
		return jr.j.Begin(ctx, jr.lease, journal.Run{
			ID: jr.id, Key: key, Service: p.Service, Environment: string(p.Environment),
			From: p.Previous, To: p.Version, Strategy: p.describe().Name, PlanHash: hash,
		})
	})
	if err != nil {
		jr.id = ""
		rep, err := r.finish(rctx, Aborted, "the journal could not be written; nothing was changed", fmt.Errorf("%w: begin the run in the journal: %w", ErrPreflight, err))
		return rctx, rep, err
	}
	return rctx, nil, nil
}

// renew renews the lease every third of its time-to-live until ctx ends.
// When the lease is lost — fenced by a newer holder, or not renewed before
// it comes within a sixth of its time-to-live of expiring — it ends the
// run's context with ErrFenced. A slow renewal is waited for up to that
// margin, not cut short: on a loaded machine or a slow database a renewal
// may take longer than a tick and still land in time.
func (r *run) renew(ctx context.Context) {
	jr := r.journal
	t := time.NewTicker(jr.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		jr.mu.Lock()
		l := jr.lease
		jr.mu.Unlock()
		safe := l.Expires.Add(-jr.ttl / 6) // act no later than this without a renewal
		var (
			nl  journal.Lease
			err error
		)
		if wait := time.Until(safe); wait > 0 {
			nl, err = call(ctx, "Journal.Renew", wait, func(ctx context.Context) (journal.Lease, error) { return jr.j.Renew(ctx, l, jr.ttl) })
		} else {
			err = fmt.Errorf("the lease was not renewed in time: it expires at %s", l.Expires.Format(time.RFC3339Nano))
		}
		switch {
		case err == nil:
			jr.mu.Lock()
			jr.lease = nl
			jr.mu.Unlock()
		case ctx.Err() != nil:
			return
		case errors.Is(err, journal.ErrFenced) || !time.Now().Before(safe):
			// Fenced, or about to lapse with no renewal in sight: stop
			// before another holder may act.
			jr.fence(fmt.Errorf("%w: %w", ErrFenced, err))
			return
		}
	}
}

// fence records that the lease is lost and ends the run's context.
func (jr *journaled) fence(err error) {
	jr.mu.Lock()
	if jr.fenced == nil {
		jr.fenced = err
	}
	jr.mu.Unlock()
	jr.cancel(err)
}

// isFenced returns the error that fenced the run, or nil.
func (jr *journaled) isFenced() error {
	if jr == nil {
		return nil
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return jr.fenced
}

// release gives the lease up; a nil jr does nothing.
func (jr *journaled) release() {
	if jr == nil {
		return
	}
	jr.mu.Lock()
	l := jr.lease
	jr.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), jr.ttl)
	defer cancel()
	_ = call0(ctx, "Journal.Release", jr.ttl, func(ctx context.Context) error { return jr.j.Release(ctx, l) }) // an unreleased lease expires
	jr.cancel(errors.New("deploy: run finished"))
}

// write appends entries to the run. A failed write is remembered: the run
// stops at its next action (see allowed). A fenced write fences the run.
func (r *run) write(ctx context.Context, es ...journal.Entry) error {
	jr := r.journal
	if jr == nil || jr.id == "" {
		return nil
	}
	if err := jr.isFenced(); err != nil {
		return err
	}
	jr.mu.Lock()
	l, id := jr.lease, jr.id
	jr.mu.Unlock()
	_, err := call(context.WithoutCancel(ctx), "Journal.Append", r.timeouts.Call, func(ctx context.Context) (int64, error) { return jr.j.Append(ctx, l, id, es...) })
	if err == nil {
		return nil
	}
	if errors.Is(err, journal.ErrFenced) {
		err = fmt.Errorf("%w: %w", ErrFenced, err)
		jr.fence(err)
		return err
	}
	err = fmt.Errorf("the journal could not be written: %w", err)
	jr.mu.Lock()
	if jr.err == nil {
		jr.err = err
	}
	jr.mu.Unlock()
	return err
}

// allowed reports whether the run may act on the target: not once its
// lease is lost, and — outside an undo — not once a journal write failed,
// since it must never go on unrecorded.
func (r *run) allowed() error {
	jr := r.journal
	if jr == nil {
		return nil
	}
	if err := jr.isFenced(); err != nil {
		return err
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.err != nil && !jr.undoing {
		return jr.err
	}
	return nil
}

// intent records a change before it is made; the change must not be made
// when intent fails.
func (r *run) intent(ctx context.Context, c journal.Change, msg string) error {
	if err := r.allowed(); err != nil {
		return err
	}
	e, err := journal.NewEntry(journal.TypeIntent, msg, c)
	if err != nil {
		return err
	}
	if err := r.write(ctx, e); err != nil {
		if fenced := r.journal.isFenced(); fenced != nil {
			return fenced
		}
		r.journal.mu.Lock()
		undoing := r.journal.undoing
		r.journal.mu.Unlock()
		if !undoing {
			return err
		}
	}
	return nil
}

// done records the result of a change.
func (r *run) done(ctx context.Context, c journal.Change, msg string, failed error) {
	typ := journal.TypeDone
	if failed != nil {
		typ, msg = journal.TypeFailed, msg+": "+failed.Error()
	}
	if e, err := journal.NewEntry(typ, msg, c); err == nil {
		_ = r.write(ctx, e) // a failure stops the run at its next action
	}
}

// record writes an event to the journal, in the order of events.
func (r *run) record(ctx context.Context, e Event) {
	if r.journal == nil {
		return
	}
	typ := journal.TypeEvent
	switch e.Kind {
	case KindPhase:
		typ = journal.TypePhase
	case KindStep:
		typ = journal.TypeStep
	case KindVerdict:
		typ = journal.TypeVerdict
	case KindDecision:
		typ = journal.TypeDecision
	case KindAction, KindOutcome:
		// The changes are in intent and done entries; the outcome in Finish.
		return
	}
	var data any
	switch {
	case e.Verdict != nil:
		data = entry(e).Numbers
	case e.Kind == KindPhase:
		data = phaseData{Phase: e.Phase}
	case e.Kind == KindStep && e.Phase == PhaseDeploy: // a step reached, not an operator's control
		data = journal.Change{Op: "step", Name: e.Step, Weight: e.Weight}
	}
	en, err := journal.NewEntry(typ, e.Message, data)
	if err != nil {
		en, _ = journal.NewEntry(typ, e.Message, nil) // numbers JSON cannot hold (NaN)
	}
	_ = r.write(ctx, en)
}

// phaseData is the Data of a phase entry.
type phaseData struct {
	Phase Phase `json:"phase"`
}

// PhaseOf returns the phase a journal entry of type journal.TypePhase says
// began. It fails for another type of entry, or one whose data does not
// name a phase (written by another program).
func PhaseOf(e journal.Entry) (Phase, error) {
	var d phaseData
	if e.Type != journal.TypePhase {
		return "", fmt.Errorf("deploy: entry %d is a %s, not a phase", e.Seq, e.Type)
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Phase == "" {
		return "", fmt.Errorf("deploy: phase entry %d (%q) does not name its phase", e.Seq, e.Message)
	}
	return d.Phase, nil
}

// finishJournal records how the run ended, with its record. The lease is
// released when Run returns.
func (r *run) finishJournal(ctx context.Context) {
	jr := r.journal
	if jr == nil || jr.id == "" || jr.isFenced() != nil {
		return
	}
	jr.mu.Lock()
	l, id := jr.lease, jr.id
	jr.mu.Unlock()
	rep := r.report
	err := call0(context.WithoutCancel(ctx), "Journal.Finish", r.timeouts.Call, func(ctx context.Context) error {
		return jr.j.Finish(ctx, l, id, string(rep.Outcome), rep.Reason, rep.Record)
	})
	if err != nil {
		r.mu.Lock()
		r.report.Record.Entries = append(r.report.Record.Entries, entry(Event{Time: time.Now(), Kind: KindOutcome, Phase: PhaseDecide, Message: "the journal did not record how the run ended", Err: err}))
		r.mu.Unlock()
	}
}

// controls returns the operators' controls posted since the last call.
func (r *run) controls(ctx context.Context) []journal.Control {
	jr := r.journal
	if jr == nil || jr.id == "" {
		return nil
	}
	jr.mu.Lock()
	id, after := jr.id, jr.seen
	jr.mu.Unlock()
	es, err := call(ctx, "Journal.Entries", r.timeouts.Read, func(ctx context.Context) ([]journal.Entry, error) { return jr.j.Entries(ctx, id, after) })
	if err != nil {
		return nil // read again at the next interval
	}
	var out []journal.Control
	for _, e := range es {
		after = max(after, e.Seq)
		if c, err := journal.ControlOf(e); err == nil {
			out = append(out, c)
		}
	}
	jr.mu.Lock()
	jr.seen = max(jr.seen, after)
	jr.mu.Unlock()
	return out
}

// flagOff turns the kill switch off, through the journal.
func (r *run) flagOff(ctx context.Context) error {
	p := r.plan
	c := journal.Change{Op: "flag", Name: p.KillSwitch}
	if err := r.intent(ctx, c, "turn the kill switch off"); err != nil {
		return err
	}
	err := call0(ctx, "kill switch", r.timeouts.Call, func(ctx context.Context) error { return flags.KillSwitch(ctx, p.Flags, p.KillSwitch) })
	r.done(ctx, c, "kill switch off", err)
	msg := fmt.Sprintf("kill switch %q turned off", p.KillSwitch)
	if err != nil {
		msg = fmt.Sprintf("could not turn kill switch %q off", p.KillSwitch)
	}
	r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: msg, Err: err})
	return err
}

// reconcile puts the target back on the crashed run's previous version,
// from what the target reports now: traffic first, then the previous
// version's instances restored to their number before the run, then every
// instance of the new version stopped.
func (r *run) reconcile(ctx context.Context, crashed journal.Run, before *journal.Fleet) error {
	t := r.target()
	from, to := crashed.From, crashed.To
	if t.Router != nil {
		if rs, ok := r.plan.Target.Router.(strategy.RouterState); ok {
			if stable, canary, w, err := rs.Routing(ctx); err == nil {
				r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: fmt.Sprintf("the router reports %g%% on %s, the rest on %s", w, canary, stable)})
			}
		}
		if err := t.Router.Route(ctx, from, to, 0); err != nil {
			return fmt.Errorf("route traffic back to %s: %w", from, err)
		}
	}
	if t.Switch != nil {
		if err := t.Switch.Switch(ctx, from); err != nil {
			return fmt.Errorf("switch traffic back to %s: %w", from, err)
		}
	}
	insts, err := t.Fleet.Instances(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	var running, others []strategy.Instance
	for _, in := range insts {
		if in.Version == from {
			running = append(running, in)
		} else {
			others = append(others, in)
		}
	}
	want := len(running)
	if before != nil && before.Version == from {
		want = len(before.Instances)
	}
	var errs []error
	for range want - len(running) {
		if _, err := t.Fleet.Start(ctx, from); err != nil {
			errs = append(errs, fmt.Errorf("start an instance of %s: %w", from, err))
		}
	}
	if len(errs) == 0 {
		for _, in := range others {
			if in.Version != to {
				continue // not this deployment's
			}
			if err := t.Fleet.Stop(ctx, in.ID); err != nil {
				errs = append(errs, fmt.Errorf("stop instance %s (%s): %w", in.ID, in.Version, err))
			}
		}
	}
	if err := errlist.Join(errs...); err != nil {
		return err
	}
	r.emit(ctx, Event{Kind: KindAction, Phase: PhaseDecide, Message: fmt.Sprintf("target reconciled: %d instance(s) of %s, none of %s, all traffic on %s", want, from, to, from)})
	return nil
}

// recordFleet writes the fleet as it was before the deployment's first
// change.
func (r *run) recordFleet(ctx context.Context) error {
	if r.journal == nil {
		return nil
	}
	insts, err := call(ctx, "Fleet.Instances", r.timeouts.Call, r.plan.Target.Fleet.Instances)
	if err != nil {
		return fmt.Errorf("list instances before the first change: %w", err)
	}
	f := journal.Fleet{Version: r.plan.Previous}
	for _, in := range insts {
		if in.Version == r.plan.Previous {
			f.Instances = append(f.Instances, in.ID)
		}
	}
	slices.Sort(f.Instances)
	e, err := journal.NewEntry(journal.TypeFleet, fmt.Sprintf("%d instance(s) of %s before the deployment", len(f.Instances), f.Version), f)
	if err != nil {
		return err
	}
	return r.write(ctx, e)
}

// words returns a control's description for events.
func words(c journal.Control) string {
	s := c.Who + " asked to " + c.Op
	if c.Why != "" {
		s += ": " + strings.TrimSpace(c.Why)
	}
	return s
}
