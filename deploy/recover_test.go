package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// freezing is a Journal that stops its holder dead, as SIGSTOP or a crash
// would, once it has written an entry that at matches: that Append and
// every later call block until thaw is closed, then fail as fenced.
type freezing struct {
	*journal.Memory
	at     func(journal.Entry) bool
	once   sync.Once
	frozen chan struct{}
	thaw   chan struct{}
}

func newFreezing(at func(journal.Entry) bool) *freezing {
	return &freezing{Memory: &journal.Memory{}, at: at, frozen: make(chan struct{}), thaw: make(chan struct{})}
}

func (f *freezing) stopped() error {
	select {
	case <-f.frozen:
		<-f.thaw
		return journal.ErrFenced
	default:
		return nil
	}
}

func (f *freezing) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	if err := f.stopped(); err != nil {
		return 0, err
	}
	n, err := f.Memory.Append(ctx, l, run, es...)
	for _, e := range es {
		if err == nil && f.at(e) {
			f.once.Do(func() { close(f.frozen) })
		}
	}
	if err := f.stopped(); err != nil {
		return 0, err
	}
	return n, err
}

func (f *freezing) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	if err := f.stopped(); err != nil {
		return journal.Lease{}, err
	}
	return f.Memory.Renew(ctx, l, ttl)
}

func (f *freezing) Finish(ctx context.Context, l journal.Lease, run, outcome, reason string, rec runbook.Record) error {
	if err := f.stopped(); err != nil {
		return err
	}
	return f.Memory.Finish(ctx, l, run, outcome, reason, rec)
}

// isIntent matches an intent entry whose change has op and, for a flag,
// enabled as given.
func isIntent(op string) func(journal.Entry) bool {
	return func(e journal.Entry) bool {
		if e.Type != journal.TypeIntent {
			return false
		}
		c, err := journal.ChangeOf(e)
		return err == nil && c.Op == op
	}
}

// nthStep matches the nth step entry.
func nthStep(n int) func(journal.Entry) bool {
	seen := 0
	return func(e journal.Entry) bool {
		if e.Type == journal.TypeStep && strings.Contains(e.Message, "observing") {
			seen++
		}
		return seen == n
	}
}

// crashAndRecover runs first until its journal freezes it, lets its lease
// lapse, and recovers with a plan like first on the same target (with
// recovery as given), on the journal's Memory. It returns the recovering
// run's report and error, after thawing the first run and waiting for it.
func crashAndRecover(t *testing.T, j *freezing, first *deploy.Plan, recovery deploy.Recovery) (*deploy.Report, error, *recorder) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		deploy.Run(t.Context(), first)
	}()
	select {
	case <-j.frozen:
	case <-done:
		t.Fatal("the first run ended without reaching the crash point")
	}
	time.Sleep(2 * deploy.DefaultLeaseTTL)
	next, rec := journaledPlan(t, j.Memory, "next")
	next.Target, next.Metrics, next.Flags, next.Recover, next.Strategy = first.Target, first.Metrics, first.Flags, recovery, first.Strategy
	rep, err := deploy.Run(t.Context(), next)
	close(j.thaw)
	<-done
	return rep, err, rec
}

// A crash after the intent to turn the kill switch off, before it was
// turned off: the recovery must turn it off, not take the intent for the
// deed.
func TestRecoveryTurnsOffAKillSwitchThatWasOnlyIntended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(isIntent("flag"))
		p, _ := newPlan(newFleet(broken))
		store := withFlag(t, p)
		p.Journal, p.Holder = j, "crashed"
		rep, err, _ := crashAndRecover(t, j, p, deploy.RecoverRollBack)
		if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
			t.Fatalf("recovery = %v, %v", rep.Outcome, err)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("the kill switch is still on after a rollback: the recovery took the intent for the deed")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
	})
}

// A resumed deployment runs the plan again as it began: with its kill
// switch on, so that it completes with the change on, as its record says.
func TestResumeCompletesWithTheKillSwitchOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(nthStep(2))
		p, _ := newPlan(newFleet(healthy))
		store := withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		rep, err, _ := crashAndRecover(t, j, p, deploy.RecoverResume)
		if err != nil || rep.Outcome != deploy.Completed {
			t.Fatalf("resume = %v, %v (%s)", rep.Outcome, err, rep.Reason)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); !f.Enabled {
			t.Error("the resumed deployment completed with its kill switch off")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v2": 8})
	})
}

// A run that had already decided to roll back when it crashed is not
// resumed: the recovery finishes the rollback, and v2, judged bad, serves
// no one again.
func TestResumeDoesNotRetryADecidedRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(isIntent("flag"))
		p, _ := newPlan(newFleet(broken))
		store := withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		rep, err, rec := crashAndRecover(t, j, p, deploy.RecoverResume)
		if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
			t.Fatalf("recovery = %v, %v", rep.Outcome, err)
		}
		if n := rec.count(deploy.KindStep); n != 0 {
			t.Errorf("the recovering run deployed v2 again: %d steps", n)
		}
		if runs, _ := j.Runs(t.Context(), "shop/staging", 0); len(runs) != 1 {
			t.Errorf("%d runs in the journal, want the interrupted one only", len(runs))
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch left on")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
	})
}

// Step entries carry the step's name and weight, and phase entries their
// phase, as journal.TypeStep documents: what an operator's status reads.
func TestStepAndPhaseEntriesCarryData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal.Memory
		p, _ := journaledPlan(t, &j, "a")
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		runs, _ := j.Runs(t.Context(), "shop/staging", 1)
		es, _ := j.Entries(t.Context(), runs[0].ID, 0)
		var weights []float64
		var phases []string
		for _, e := range es {
			switch e.Type {
			case journal.TypeStep:
				c, err := journal.ChangeOf(e)
				if err != nil || c.Op != "step" || c.Name == "" {
					t.Errorf("step entry %q: %+v, %v", e.Message, c, err)
				}
				weights = append(weights, c.Weight)
			case journal.TypePhase:
				ph, err := deploy.PhaseOf(e)
				if err != nil {
					t.Error(err)
				}
				phases = append(phases, string(ph))
			}
		}
		if got := strings.Join(phases, ","); got != "preflight,deploy,decide" {
			t.Errorf("phases %s", got)
		}
		if len(weights) != 5 || weights[0] != 1 || weights[4] != 100 {
			t.Errorf("step weights %v, want 1 … 100", weights)
		}
	})
}

// A resumed run cancelled before it changes anything still owns what the
// interrupted run changed: it rolls that back, rather than leaving v2 on
// a share of traffic that no one observes.
func TestResumedRunCancelledRollsBackTheInterruptedChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(nthStep(2))
		p, _ := newPlan(newFleet(healthy))
		store := withFlag(t, p)
		p.Journal, p.Holder, p.Recover = j, "crashed", deploy.RecoverResume
		done := make(chan struct{})
		go func() {
			defer close(done)
			deploy.Run(t.Context(), p)
		}()
		<-j.frozen
		time.Sleep(2 * deploy.DefaultLeaseTTL)

		next, _ := journaledPlan(t, j.Memory, "next")
		next.Target, next.Metrics, next.Flags, next.Recover = p.Target, p.Metrics, p.Flags, deploy.RecoverResume
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		next.Observers = append(next.Observers, deploy.ObserverFunc(func(_ context.Context, e deploy.Event) {
			if e.Kind == deploy.KindPhase && e.Phase == deploy.PhaseDeploy {
				cancel() // the resumed run is about to deploy
			}
		}))
		rep, err := deploy.Run(ctx, next)
		close(j.thaw)
		<-done
		if !errors.Is(err, deploy.ErrRolledBack) || rep.Outcome != deploy.RolledBack {
			t.Fatalf("resumed run cancelled before any change = %v, %v (%s); want rolled back", rep.Outcome, err, rep.Reason)
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("the kill switch is on after a rollback")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
		if _, w, _ := fleetOf(p).Weight(); w != 0 {
			t.Errorf("router at %g%%", w)
		}
	})
}

// A run that loses its lease in the middle of its own rollback stops
// touching the target and says it was superseded — not that its rollback
// failed, which would send an operator to a fleet the new holder has put
// right.
func TestFencedDuringRollbackIsSuperseded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := newFreezing(isIntent("flag"))
		p, rec := newPlan(newFleet(broken))
		withFlag(t, p)
		p.Journal, p.Holder = j, "stalled"
		p.Timeouts.Call = time.Hour // the journal's calls block until thawed
		type result struct {
			rep *deploy.Report
			err error
		}
		first := make(chan result, 1)
		go func() {
			rep, err := deploy.Run(t.Context(), p)
			first <- result{rep, err}
		}()
		<-j.frozen
		time.Sleep(2 * deploy.DefaultLeaseTTL)
		next, _ := journaledPlan(t, j.Memory, "next")
		next.Target, next.Metrics, next.Flags = p.Target, p.Metrics, p.Flags
		if _, err := deploy.Run(t.Context(), next); !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("recovery: %v", err)
		}
		close(j.thaw)
		res := <-first
		if res.rep.Outcome != deploy.Superseded || !errors.Is(res.err, deploy.ErrFenced) {
			t.Errorf("the stalled run ended %v: %v", res.rep.Outcome, res.err)
		}
		if rec.index(deploy.KindAction, "routed") > rec.index(deploy.KindDecision, "") {
			t.Error("the stalled run moved traffic after it was fenced")
		}
		assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
		if _, w, _ := fleetOf(p).Weight(); w != 0 {
			t.Errorf("router at %g%%", w)
		}
	})
}
