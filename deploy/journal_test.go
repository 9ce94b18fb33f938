package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// journaledPlan returns a canary plan of fleet with a kill switch, kept in j.
func journaledPlan(t *testing.T, j journal.Journal, holder string) (*deploy.Plan, *recorder) {
	p, rec := newPlan(newFleet(healthy))
	withFlag(t, p)
	p.Journal, p.Holder = j, holder
	return p, rec
}

func TestJournalRecordsARunAndARerunChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal.Memory
		p, _ := journaledPlan(t, &j, "a")
		fleet := fleetOf(p)
		if _, err := deploy.Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		runs, _ := j.Runs(t.Context(), "shop/staging", 0)
		if len(runs) != 1 || runs[0].Outcome != "completed" || runs[0].Holder != "a" {
			t.Fatalf("journal runs %+v", runs)
		}
		entries, _ := j.Entries(t.Context(), runs[0].ID, 0)
		var intents, dones, steps int
		for _, e := range entries {
			switch e.Type {
			case journal.TypeIntent:
				intents++
			case journal.TypeDone:
				dones++
			case journal.TypeStep:
				steps++
			}
		}
		if intents == 0 || intents != dones || steps != 5 {
			t.Errorf("%d intents, %d done, %d steps in the journal", intents, dones, steps)
		}
		if rec, err := j.Record(t.Context(), runs[0].ID); err != nil || rec.Outcome != "completed" {
			t.Errorf("journal record %v, %v", rec.Outcome, err)
		}

		before := fleet.Versions()
		rep, err := deploy.Run(t.Context(), p)
		if err != nil || rep.Outcome != deploy.Completed || !strings.Contains(rep.Reason, "already completed") {
			t.Fatalf("rerun = %v, %v (%s)", rep.Outcome, err, rep.Reason)
		}
		if after := fleet.Versions(); !mapsEqual(before, after) {
			t.Errorf("the rerun changed the fleet: %v → %v", before, after)
		}
		if runs, _ := j.Runs(t.Context(), "shop/staging", 0); len(runs) != 1 {
			t.Errorf("the rerun began a run of its own: %d runs", len(runs))
		}
	})
}

// A second run while the first holds the lease fails fast, names the
// holder, and changes nothing.
func TestSecondRunFailsFastAndChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal.Memory
		first, _ := journaledPlan(t, &j, "host-a/1")
		done := make(chan error)
		go func() {
			_, err := deploy.Run(t.Context(), first)
			done <- err
		}()
		time.Sleep(time.Minute) // the first is at its first step
		second, rec := journaledPlan(t, &j, "host-b/2")
		store := second.Flags
		start := time.Now()
		rep, err := deploy.Run(t.Context(), second)
		var held *journal.HeldError
		if !errors.Is(err, deploy.ErrInProgress) || !errors.As(err, &held) || rep.Outcome != deploy.Aborted {
			t.Fatalf("second Run = %v, %v; want ErrInProgress", rep.Outcome, err)
		}
		if time.Since(start) != 0 {
			t.Errorf("the second run waited %s", time.Since(start))
		}
		if held.Lease.Holder != "host-a/1" || held.Run == "" || !strings.Contains(err.Error(), "host-a/1") {
			t.Errorf("the error does not name the holder and its run: %v", err)
		}
		if rec.count(deploy.KindAction) != 0 {
			t.Error("the second run acted")
		}
		if f, _ := store.Get(t.Context(), "new-checkout"); !f.Enabled {
			t.Error("the second run turned the kill switch off")
		}
		if err := <-done; err != nil {
			t.Errorf("first run: %v", err)
		}
	})
}

// Operators pause, promote and abort a run through the journal.
func TestOperatorControls(t *testing.T) {
	post := func(t *testing.T, j *journal.Memory, op string) {
		t.Helper()
		runs, _ := j.Runs(t.Context(), "shop/staging", 1)
		if _, err := j.Post(t.Context(), runs[0].ID, journal.Control{Op: op, Who: "ops", Why: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("abort", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var j journal.Memory
			p, _ := journaledPlan(t, &j, "a")
			type result struct {
				rep *deploy.Report
				err error
			}
			done := make(chan result)
			go func() {
				rep, err := deploy.Run(t.Context(), p)
				done <- result{rep, err}
			}()
			time.Sleep(7 * time.Minute) // in the second step
			post(t, &j, journal.Abort)
			asked := time.Now()
			res := <-done
			if !errors.Is(res.err, deploy.ErrRolledBack) || !errors.Is(res.err, deploy.ErrOperatorAbort) {
				t.Fatalf("Run = %v; want a rollback by the operator", res.err)
			}
			if took := time.Since(asked); took > p.Verify.WithDefaults().Interval {
				t.Errorf("abort took %s, more than one interval", took)
			}
			if !strings.Contains(res.rep.Reason, "aborted by an operator") {
				t.Errorf("reason %q", res.rep.Reason)
			}
			assertVersions(t, fleetOf(p), map[string]int{"v1": 8})
		})
	})
	t.Run("pause then promote", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var j journal.Memory
			p, _ := journaledPlan(t, &j, "a")
			done := make(chan error)
			start := time.Now()
			go func() {
				_, err := deploy.Run(t.Context(), p)
				done <- err
			}()
			time.Sleep(2 * time.Minute)
			post(t, &j, journal.Pause)
			time.Sleep(20 * time.Minute) // held well past the 5-minute window
			runs, _ := j.Runs(t.Context(), "shop/staging", 1)
			es, _ := j.Entries(t.Context(), runs[0].ID, 0)
			steps := 0
			for _, e := range es {
				if e.Type == journal.TypeStep && strings.Contains(e.Message, "on v2;") {
					steps++
				}
			}
			if steps != 1 {
				t.Errorf("%d steps reached while paused at the first", steps)
			}
			post(t, &j, journal.Promote)
			post(t, &j, journal.Resume)
			for range 4 { // promote each remaining step
				time.Sleep(2 * time.Minute)
				post(t, &j, journal.Promote)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 40*time.Minute {
				t.Errorf("took %s", took)
			}
		})
	})
}

// fleetOf returns the simulated fleet behind a plan made by newPlan.
func fleetOf(p *deploy.Plan) *strategytest.Fleet { return p.Target.Fleet.(*strategytest.Fleet) }

// flaky is a Journal whose writes start failing, or whose renewals stop
// succeeding, on demand.
type flaky struct {
	*journal.Memory
	failAppend atomic.Bool
	failRenew  atomic.Bool
}

var errDown = errors.New("database is down")

func (f *flaky) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	if f.failAppend.Load() {
		return 0, errDown
	}
	return f.Memory.Append(ctx, l, run, es...)
}

func (f *flaky) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	if f.failRenew.Load() {
		return journal.Lease{}, errDown
	}
	return f.Memory.Renew(ctx, l, ttl)
}

// slowRenew is a Journal whose renewals take delay, or hang until their
// context ends.
type slowRenew struct {
	*journal.Memory
	delay atomic.Int64 // nanoseconds; negative hangs
	count atomic.Int32
}

func (s *slowRenew) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	s.count.Add(1)
	d := time.Duration(s.delay.Load())
	if d < 0 {
		<-ctx.Done()
		return journal.Lease{}, ctx.Err()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return journal.Lease{}, ctx.Err()
	}
	return s.Memory.Renew(ctx, l, ttl)
}

// A renewal slower than the renewal period but in time keeps the lease: a
// loaded machine or a slow database is no reason to stop a deployment. A
// renewal that hangs fences the run before the lease could lapse, without
// touching the target.
func TestSlowRenewalsKeepTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &slowRenew{Memory: &journal.Memory{}}
		j.delay.Store(int64(12 * time.Second)) // a tick is 10s; the lease is safe for 25s
		p, _ := journaledPlan(t, j, "slow")
		p.LeaseTTL = 30 * time.Second
		rep, err := deploy.Run(t.Context(), p)
		if err != nil || rep.Outcome != deploy.Completed {
			t.Fatalf("with 12s renewals of a 30s lease: %v (%s), %v; want completed", rep.Outcome, rep.Reason, err)
		}
		if j.count.Load() == 0 {
			t.Fatal("the lease was never renewed")
		}

		j2 := &slowRenew{Memory: &journal.Memory{}}
		p2, rec := journaledPlan(t, j2, "hung")
		p2.LeaseTTL = 30 * time.Second
		done := make(chan *deploy.Report)
		start := time.Now()
		go func() {
			rep, _ := deploy.Run(t.Context(), p2)
			done <- rep
		}()
		time.Sleep(7 * time.Minute)
		j2.delay.Store(-1)
		acted := rec.count(deploy.KindAction)
		rep2 := <-done
		if rep2.Outcome != deploy.Superseded {
			t.Fatalf("with a hanging renewal: %v (%s); want superseded", rep2.Outcome, rep2.Reason)
		}
		// The last renewal before the hang was at most a tick before it; the
		// run stops a sixth of the ttl before that lease expires.
		if took := time.Since(start) - 7*time.Minute; took > 30*time.Second-5*time.Second {
			t.Errorf("fenced %s after renewals began to hang, want within the ttl less a sixth", took)
		}
		if rec.count(deploy.KindAction) != acted {
			t.Error("the run acted on the target after its renewals began to hang")
		}
	})
}

// A journal that cannot be written stops the deployment at its next action,
// and it rolls back.
func TestUnwritableJournalRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &flaky{Memory: &journal.Memory{}}
		p, _ := journaledPlan(t, j, "a")
		done := make(chan error)
		go func() {
			_, err := deploy.Run(t.Context(), p)
			done <- err
		}()
		time.Sleep(2 * time.Minute)
		j.failAppend.Store(true)
		err := <-done
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, errDown) {
			t.Fatalf("Run = %v; want a rollback for the unwritable journal", err)
		}
	})
}

// A holder that loses its lease stops without touching the target; the
// next run takes the interrupted run over and rolls it back.
func TestLostLeaseIsFencedAndRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &flaky{Memory: &journal.Memory{}}
		p, rec := journaledPlan(t, j, "stalled")
		p.LeaseTTL = 30 * time.Second
		fleet := fleetOf(p)
		done := make(chan *deploy.Report)
		go func() {
			rep, _ := deploy.Run(t.Context(), p)
			done <- rep
		}()
		time.Sleep(7 * time.Minute) // at 5%, with 1 instance of v2 taking traffic
		j.failRenew.Store(true)     // the holder can no longer renew: as if partitioned
		rep := <-done
		if rep.Outcome != deploy.Superseded {
			t.Fatalf("the fenced run ended %v (%s)", rep.Outcome, rep.Reason)
		}
		actions := rec.count(deploy.KindAction)
		if _, w, _ := fleet.Weight(); w == 0 {
			t.Fatal("the fenced run moved traffic back itself")
		}
		if f, _ := p.Flags.Get(t.Context(), "new-checkout"); !f.Enabled {
			t.Error("the fenced run turned the kill switch off")
		}

		j.failRenew.Store(false)
		next, nrec := journaledPlan(t, j, "next")
		next.Target, next.Metrics, next.Flags = p.Target, p.Metrics, p.Flags
		rep2, err := deploy.Run(t.Context(), next)
		if !errors.Is(err, deploy.ErrRolledBack) || rep2.Outcome != deploy.RolledBack {
			t.Fatalf("recovery = %v, %v", rep2.Outcome, err)
		}
		if rec.count(deploy.KindAction) != actions {
			t.Error("the fenced holder acted after it was fenced")
		}
		if nrec.index(deploy.KindPhase, "taking over run") < 0 {
			t.Error("the takeover is not reported")
		}
		assertVersions(t, fleet, map[string]int{"v1": 8})
		if _, w, _ := fleet.Weight(); w != 0 {
			t.Errorf("router left at %g%%", w)
		}
		if f, _ := p.Flags.Get(t.Context(), "new-checkout"); f.Enabled {
			t.Error("kill switch left on")
		}
		runs, _ := j.Runs(t.Context(), "shop/staging", 0)
		if len(runs) != 1 || runs[0].Outcome != "rolled_back" {
			t.Fatalf("journal runs %+v; want the interrupted run finished as rolled back", runs)
		}
		es, _ := j.Entries(t.Context(), runs[0].ID, 0)
		takeovers := 0
		for _, e := range es {
			if e.Type == journal.TypeTakeover {
				takeovers++
			}
		}
		if takeovers != 1 {
			t.Errorf("%d takeover entries", takeovers)
		}
		var recd runbook.Record
		if recd, err = j.Record(t.Context(), runs[0].ID); err != nil || !strings.Contains(recd.Reason, "interrupted") {
			t.Errorf("journal record %q, %v", recd.Reason, err)
		}
	})
}
