// Package journaltest tests implementations of [journal.Journal], in the
// manner of testing/fstest and testing/slogtest. If you keep a journal in
// your own database, call [Run] from one of its tests to check that it
// keeps the contract the deploy executor relies on:
//
//	func TestJournal(t *testing.T) {
//		journaltest.Run(t, func(t *testing.T) journal.Journal { return newTestJournal(t) })
//	}
//
// [Check] runs the same checks outside a test, with a context of your own,
// and returns one error naming every check that failed and what the
// journal did wrong, or nil:
//
//	err := journaltest.Check(ctx, func() (journal.Journal, error) { return openScratchJournal(ctx) })
//
// # Time
//
// Leases expire by the journal's own clock, which the checks cannot move.
// The checks that need a lease to lapse give it a ttl of 150ms (or shorten
// a live lease to that with Renew) and then sleep 200ms of real time;
// every other lease is taken for a minute, so that a slow journal does not
// lose it mid-check. A lease the Renew check could not renew within its
// ttl (a slow journal, or this process stopped by a loaded machine) is
// tried again with twice the ttl, up to 9.6s. All the checks sleep for
// 600ms, plus the journal's own time: a few hundred writes. The journal's clock
// must run at the rate of this process's, as the clocks of one machine, or
// of machines kept in sync by NTP, do.
package journaltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/internal/kit"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

const (
	// liveTTL is the ttl of leases that must stay live through a check.
	liveTTL = time.Minute
	// shortTTL is the ttl of leases a check lets expire, and expireWait
	// how long it then waits.
	shortTTL   = 150 * time.Millisecond
	expireWait = shortTTL + 50*time.Millisecond
	// maxRenewTTL is the longest ttl the Renew check tries to renew a
	// lease within, doubling from shortTTL.
	maxRenewTTL = 64 * shortTTL
)

// Run tests the Journal contract as a set of subtests of t, one per check,
// each named after its check. It calls newJournal once per subtest, with
// that subtest's t, to get an empty journal; use that t for clean-up, as
// in t.TempDir, and to close the journal.
//
// The checks are that Acquire hands a key's lease to one holder at a time
// (also when many goroutines race for it), with a larger token each time,
// and otherwise fails with a [*journal.HeldError] naming the holder and
// its unfinished run; that a lease expires after its ttl, lasts longer
// once renewed, and is free at once when released; that every write under
// a lease that expired or was superseded (Begin, Append, Finish, Renew)
// fails with [journal.ErrFenced] and writes nothing, while the holder that
// took over can finish the run; that Begin stores a run as given but for
// its holder, token and outcome; that Runs lists a key's runs newest first,
// up to a limit; that Append numbers entries 1, 2, … per run, all or
// none, also under concurrent writers and controls, and refuses entries
// that [journal.Entry.Validate] refuses; that Finish stores the outcome
// and the [runbook.Record], which Record returns unchanged, and that a
// finished run takes nothing more; that Post adds valid controls to a
// running run without a lease and fails with [journal.ErrNotFound] for an
// unknown or finished one; that names in any script survive; and that a
// journal given a cancelled context either ignores it or fails with an
// error wrapping [context.Canceled], and in both cases reports truthfully
// what it did.
func Run(t *testing.T, newJournal func(t *testing.T) journal.Journal) {
	t.Helper()
	suite().Run(t, newJournal)
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "Fencing: …". It calls
// newJournal once per check to get an empty journal, and closes it after
// the check if it is an [io.Closer], reporting an error from Close as a
// failure of the check.
//
// If newJournal fails, or ctx is done before a check starts, Check stops
// and returns the failures so far together with an error that wraps
// newJournal's error or the context's cause.
func Check(ctx context.Context, newJournal func() (journal.Journal, error)) error {
	return suite().Check(ctx, newJournal)
}

// suite returns the checks, in the order they run. Each is given an
// empty journal and reports what it finds wrong to r.
func suite() kit.Suite[journal.Journal] {
	check := func(name string, run func(ctx context.Context, j journal.Journal, r *report)) kit.Check[journal.Journal] {
		return kit.Check[journal.Journal]{Name: name, Run: func(ctx context.Context, j journal.Journal, r *kit.Report) { run(ctx, j, &report{r}) }}
	}
	return kit.Suite[journal.Journal]{Kit: "journaltest", New: "newJournal", Subject: "Journal", CloseSubject: true, Checks: []kit.Check[journal.Journal]{
		check("Acquire", checkAcquire),
		check("ConcurrentAcquire", checkConcurrentAcquire),
		check("Expiry", checkExpiry),
		check("Renew", checkRenew),
		check("Release", checkRelease),
		check("Holder", checkHolder),
		check("FencingSuperseded", checkFencingSuperseded),
		check("FencingExpired", checkFencingExpired),
		check("Begin", checkBegin),
		check("RunsNewestFirst", checkRunsNewestFirst),
		check("Seq", checkSeq),
		check("AppendInvalid", checkAppendInvalid),
		check("ConcurrentAppend", checkConcurrentAppend),
		check("Finish", checkFinish),
		check("Controls", checkControls),
		check("Names", checkNames),
		check("CancelledContext", checkCancelled),
	}}
}

// A report collects what one check finds wrong with a journal.
type report struct{ *kit.Report }

// The key most checks lease, and its run's fields.
var (
	key     = journal.Key("shop", "production")
	started = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// newRun returns a run of key with every field a caller sets.
func newRun(id, key string) journal.Run {
	return journal.Run{
		ID: id, Key: key,
		Service: "shop", Environment: "production", From: "v1", To: "v2",
		Strategy: "canary", PlanHash: "sha256:4f2a", Started: started,
	}
}

// begun returns r as Begin must store it under l.
func begun(r journal.Run, l journal.Lease) journal.Run {
	r.Holder, r.Token = l.Holder, l.Token
	r.Finished, r.Outcome, r.Reason = time.Time{}, "", ""
	return r
}

// entry returns an entry of type typ with msg and data.
func entry(typ, msg string, data any) journal.Entry {
	e, err := journal.NewEntry(typ, msg, data)
	if err != nil {
		panic(err) // the checks' own data always encodes
	}
	return e
}

// record returns a record such as the executor writes.
func record(reason string) runbook.Record {
	return runbook.Record{
		Runbook: runbook.Runbook{
			Service: "shop", Version: "v2", Previous: "v1", Environment: "production", Strategy: "canary",
			Date: started, Engineer: "alice", Changes: "new checkout", Why: "conversion", Expected: "no change in errors",
			Verify: []string{"error rate ≤ 2× baseline"}, Rollback: []string{"route 0% to v2", "stop v2"},
			RollbackTime: 2 * time.Minute,
		},
		Started: started, Finished: started.Add(17 * time.Minute),
		Outcome: "rolled_back", Reason: reason, RollbackSeconds: 12.5,
		Entries: []runbook.Entry{
			{Time: started, Phase: "deploy", Kind: "step", Step: "canary 5%", Message: "routed 5% to v2"},
			{Time: started.Add(5 * time.Minute), Phase: "verify", Kind: "verdict", Step: "canary 5%", Message: "fail",
				Numbers: []runbook.Number{{Metric: "error-rate", Unit: runbook.UnitRate, Value: 0.031, Baseline: 0.004, Threshold: 0.008}}},
		},
	}
}

// stored returns rec as a journal must give it back: through its JSON.
func stored(rec runbook.Record) runbook.Record {
	data, err := rec.JSON()
	if err != nil {
		panic(err)
	}
	out, err := runbook.ParseRecord(data)
	if err != nil {
		panic(err)
	}
	return *out
}

func checkAcquire(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	if a.Key != key || a.Holder != "host-a/1" || a.Token <= 0 || a.Expires.IsZero() {
		r.Errorf("Acquire(%q, %q) = %+v; want the key, the holder, a positive token and an expiry", key, "host-a/1", a)
	}
	r.held(ctx, j, key, "host-b/2", a, "", time.Time{})
	r.held(ctx, j, key, "host-a/1", a, "", time.Time{}) // a holder cannot take its own lease again
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) {
		return
	}
	r.held(ctx, j, key, "host-b/2", a, run.ID, run.Started)
	if !r.finish(ctx, j, a, run.ID, record("done")) {
		return
	}
	r.held(ctx, j, key, "host-b/2", a, "", time.Time{})
	// Keys are independent.
	if b, ok := r.acquire(ctx, j, journal.Key("shop", "staging"), "host-b/2", liveTTL); ok && b.Token <= 0 {
		r.Errorf("Acquire of another key = %+v; want a positive token", b)
	}
	const bad = "bad/arguments"
	for _, c := range []struct {
		key, holder string
		ttl         time.Duration
	}{{"", "host-a/1", liveTTL}, {bad, "", liveTTL}, {bad, "host-a/1", 0}, {bad, "host-a/1", -time.Second}} {
		l, err := j.Acquire(ctx, c.key, c.holder, c.ttl)
		switch {
		case err == nil:
			r.Errorf("Acquire(%q, %q, %s) = %+v, nil; want an error saying what is wrong with the arguments", c.key, c.holder, c.ttl, l)
		case errors.Is(err, journal.ErrHeld):
			r.Errorf("Acquire(%q, %q, %s) error = %v; want one saying what is wrong with the arguments, not ErrHeld", c.key, c.holder, c.ttl, err)
		}
	}
	if l, err := j.Holder(ctx, bad); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Holder(%q) after Acquires with invalid arguments = %+v, %v; want an error wrapping journal.ErrNotFound", bad, l, err)
	}
}

func checkConcurrentAcquire(ctx context.Context, j journal.Journal, r *report) {
	const workers = 12
	var prev journal.Lease
	for round := range 2 {
		var (
			mu   sync.Mutex
			wins []journal.Lease
			held []*journal.HeldError
			wg   sync.WaitGroup
		)
		start := make(chan struct{})
		for w := range workers {
			wg.Go(func() {
				<-start
				holder := fmt.Sprintf("worker-%d", w)
				l, err := j.Acquire(ctx, key, holder, liveTTL)
				var he *journal.HeldError
				switch {
				case err == nil:
					mu.Lock()
					wins = append(wins, l)
					mu.Unlock()
				case errors.As(err, &he) && errors.Is(err, journal.ErrHeld):
					mu.Lock()
					held = append(held, he)
					mu.Unlock()
				default:
					r.Errorf("Acquire(%q, %q) racing %d others: %v; want success or a *journal.HeldError", key, holder, workers-1, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(wins) != 1 {
			r.Errorf("round %d: %d of %d concurrent Acquires of a free lease succeeded (%+v); want exactly one", round+1, len(wins), workers, wins)
			return
		}
		win := wins[0]
		for _, he := range held {
			if he.Lease.Holder != win.Holder || he.Lease.Token != win.Token {
				r.Errorf("round %d: a losing Acquire's HeldError names %s token %d; want the winner, %s token %d", round+1, he.Lease.Holder, he.Lease.Token, win.Holder, win.Token)
				break
			}
		}
		if win.Token <= prev.Token {
			r.Errorf("round %d: the winner's token %d is not larger than the previous winner's %d", round+1, win.Token, prev.Token)
		}
		prev = win
		if err := j.Release(ctx, win); err != nil {
			r.Errorf("Release(%+v): %v", win, err)
			return
		}
	}
}

func checkExpiry(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", shortTTL)
	if !ok || !r.sleep(ctx, expireWait) {
		return
	}
	b, ok := r.acquire(ctx, j, key, "host-b/2", liveTTL)
	if !ok {
		return
	}
	if b.Token <= a.Token {
		r.Errorf("Acquire after %s's lease expired gave token %d; want one larger than the expired lease's %d", a.Holder, b.Token, a.Token)
	}
	r.holder(ctx, j, b)
	r.held(ctx, j, key, "host-c/3", b, "", time.Time{})
}

func checkRenew(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	n, err := j.Renew(ctx, a, 2*liveTTL)
	if err != nil {
		r.Errorf("Renew(%+v, %s) of a live lease: %v", a, 2*liveTTL, err)
		return
	}
	if n.Key != a.Key || n.Holder != a.Holder || n.Token != a.Token || !n.Expires.After(a.Expires) {
		r.Errorf("Renew(%+v, %s) = %+v; want the same key, holder and token, expiring later", a, 2*liveTTL, n)
	}
	r.holder(ctx, j, n)
	for _, ttl := range []time.Duration{0, -time.Second} {
		if l, err := j.Renew(ctx, n, ttl); err == nil {
			r.Errorf("Renew(%+v, %s) = %+v, nil; want an error: the ttl must be positive", n, ttl, l)
		}
	}
	r.holder(ctx, j, n) // the refused renewals changed nothing

	// A lease renewed before it expires outlives its first ttl. If the
	// journal is too slow to renew within the ttl, try a longer one: up
	// to 64 times as long (9.6s), since a loaded machine can stop this
	// process for seconds, and the tries only cost time when it does.
	for ttl := shortTTL; ttl <= maxRenewTTL; ttl *= 2 {
		k := fmt.Sprintf("renew/%s", ttl)
		begin := time.Now()
		l, ok := r.acquire(ctx, j, k, "host-a/1", ttl)
		if !ok {
			return
		}
		n, err := j.Renew(ctx, l, liveTTL)
		if err != nil && time.Since(begin) >= ttl {
			continue // too late to tell
		}
		if err != nil {
			r.Errorf("Renew(%+v, %s) of a lease acquired %s ago with ttl %s: %v", l, liveTTL, time.Since(begin).Round(time.Millisecond), ttl, err)
			return
		}
		if !r.sleep(ctx, time.Until(begin.Add(ttl+expireWait-shortTTL))) {
			return
		}
		r.held(ctx, j, k, "host-b/2", n, "", time.Time{})
		return
	}
	r.Errorf("could not Acquire and Renew a lease within its ttl, up to %s: too slow to check", maxRenewTTL)
}

func checkRelease(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	if err := j.Release(ctx, a); err != nil {
		r.Errorf("Release(%+v): %v", a, err)
		return
	}
	b, ok := r.acquire(ctx, j, key, "host-b/2", liveTTL)
	if !ok {
		return
	}
	if b.Token <= a.Token {
		r.Errorf("Acquire after Release gave token %d; want one larger than the released lease's %d", b.Token, a.Token)
	}
	if err := j.Release(ctx, a); err != nil {
		r.Errorf("Release(%+v) of a superseded lease: %v; want nil, doing nothing", a, err)
	}
	r.held(ctx, j, key, "host-c/3", b, "", time.Time{})
	r.holder(ctx, j, b)
	n, err := j.Renew(ctx, a, liveTTL)
	r.fenced(fmt.Sprintf("Renew(%+v) after it was released and taken", a), n, err)
}

func checkHolder(ctx context.Context, j journal.Journal, r *report) {
	if l, err := j.Holder(ctx, key); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Holder(%q) of a key never leased = %+v, %v; want an error wrapping journal.ErrNotFound", key, l, err)
	}
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	r.holder(ctx, j, a)
	if err := j.Release(ctx, a); err != nil {
		r.Errorf("Release(%+v): %v", a, err)
		return
	}
	// A released lease is still the key's last: Holder returns it.
	l, err := j.Holder(ctx, key)
	if err != nil || l.Key != a.Key || l.Holder != a.Holder || l.Token != a.Token {
		r.Errorf("Holder(%q) after Release = %+v, %v; want the released lease, %s token %d", key, l, err, a.Holder, a.Token)
	}
}

func checkFencingSuperseded(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) || !r.append(ctx, j, a, run.ID, 1, entry(journal.TypePhase, "deploy", nil)) {
		return
	}
	if err := j.Release(ctx, a); err != nil {
		r.Errorf("Release(%+v): %v", a, err)
		return
	}
	b, ok := r.acquire(ctx, j, key, "host-b/2", liveTTL)
	if !ok {
		return
	}
	// a's holder did not notice that it lost its lease.
	r.fencedWrites(ctx, j, a, "was superseded", run, b)
	// Nor can a lease be made up.
	for _, l := range []journal.Lease{
		{Key: key, Holder: "host-b/2", Token: b.Token + 1, Expires: b.Expires},
		{Key: key, Holder: "host-b/2", Token: 0, Expires: b.Expires},
	} {
		_, err := j.Append(ctx, l, run.ID, entry(journal.TypeEvent, "made up", nil))
		r.fenced(fmt.Sprintf("Append under a made-up lease (%s token %d)", l.Key, l.Token), nil, err)
	}
	r.takeOver(ctx, j, a, b, run)
}

func checkFencingExpired(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) || !r.append(ctx, j, a, run.ID, 1, entry(journal.TypePhase, "deploy", nil)) {
		return
	}
	// Shorten the lease, and let it lapse: a's holder stalled.
	a, err := j.Renew(ctx, a, shortTTL)
	if err != nil {
		r.Errorf("Renew(%+v, %s): %v", a, shortTTL, err)
		return
	}
	if !r.sleep(ctx, expireWait) {
		return
	}
	// No one has taken the lease, but it lapsed.
	r.fencedWrites(ctx, j, a, "expired", run, journal.Lease{})
	b, ok := r.acquire(ctx, j, key, "host-b/2", liveTTL)
	if !ok {
		return
	}
	if b.Token <= a.Token {
		r.Errorf("Acquire after the lease expired gave token %d; want one larger than %d", b.Token, a.Token)
	}
	r.fencedWrites(ctx, j, a, "expired and was taken", run, b)
	r.takeOver(ctx, j, a, b, run)
}

// fencedWrites checks that every write under l, a lease that how
// ("expired", "was superseded"), fails with ErrFenced and writes nothing.
// run, begun under l, must be unchanged. now, if not zero, is the key's
// lease.
func (r *report) fencedWrites(ctx context.Context, j journal.Journal, l journal.Lease, how string, run journal.Run, now journal.Lease) {
	entries := r.entries(ctx, j, run.ID, 0)
	runs := r.runs(ctx, j, run.Key, 0)

	under := "under a lease that " + how
	other := newRun("run-2", run.Key)
	r.fenced(fmt.Sprintf("Begin(%s) %s", other.ID, under), nil, j.Begin(ctx, l, other))
	_, err := j.Append(ctx, l, run.ID, entry(journal.TypeIntent, "start v2", journal.Change{Op: "start", Version: "v2"}))
	r.fenced(fmt.Sprintf("Append to %s %s", run.ID, under), nil, err)
	r.fenced(fmt.Sprintf("Finish(%s) %s", run.ID, under), nil, j.Finish(ctx, l, run.ID, "completed", "", record("done")))
	n, err := j.Renew(ctx, l, liveTTL)
	r.fenced("Renew of a lease that "+how, n, err)

	r.sameEntries(ctx, j, run.ID, entries, "after writes "+under)
	r.sameRuns(ctx, j, run.Key, runs, "after writes "+under)
	if rec, err := j.Record(ctx, run.ID); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Record(%s) after a Finish %s = %+v, %v; want an error wrapping journal.ErrNotFound", run.ID, under, rec.Outcome, err)
	}
	if now.Token != 0 {
		r.holder(ctx, j, now)
	}
}

// takeOver checks that b, which took over run's key from a, can carry
// run, begun under a with one entry, on and finish it.
func (r *report) takeOver(ctx context.Context, j journal.Journal, a, b journal.Lease, run journal.Run) {
	if !r.append(ctx, j, b, run.ID, 2, entry(journal.TypeTakeover, "host-b/2 took over", nil)) {
		return
	}
	rec := record("finished by the holder that took over")
	if !r.finish(ctx, j, b, run.ID, rec) {
		return
	}
	// The run stays a's: who began it.
	want := begun(run, a)
	want.Outcome, want.Reason = rec.Outcome, rec.Reason
	if got := r.runs(ctx, j, run.Key, 1); len(got) == 1 {
		want.Finished = got[0].Finished
		if want.Finished.IsZero() {
			r.Errorf("Runs after Finish(%s): Finished is zero; want the time it finished", run.ID)
		}
	}
	r.sameRuns(ctx, j, run.Key, []journal.Run{want}, "after the holder that took over finished the run")
	r.record(ctx, j, run.ID, rec)
}

func checkBegin(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	given := newRun("run-1", key)
	// Begin sets these itself.
	given.Holder, given.Token, given.Finished, given.Outcome, given.Reason = "someone else", 99, started.Add(time.Hour), "completed", "made up"
	if !r.begin(ctx, j, a, given) {
		return
	}
	want := []journal.Run{begun(given, a)}
	r.sameRuns(ctx, j, key, want, "after Begin")

	now := journal.Run{ID: "run-2", Key: key, Service: "shop", Environment: "production", To: "v3"}
	if !r.begin(ctx, j, a, now) {
		return
	}
	got := r.runs(ctx, j, key, 1)
	if len(got) == 1 {
		if got[0].Started.IsZero() {
			r.Errorf("Begin of a run with no Started stored Started = zero; want the time it began")
		}
		now.Started = got[0].Started
	}
	want = append([]journal.Run{begun(now, a)}, want...)
	r.sameRuns(ctx, j, key, want, "after a second Begin")

	dup := newRun("run-1", key)
	dup.To = "v9"
	if err := j.Begin(ctx, a, dup); err == nil {
		r.Errorf("Begin of a run whose ID exists, %s, succeeded; want an error", dup.ID)
	}
	if err := j.Begin(ctx, a, newRun("", key)); err == nil {
		r.Errorf(`Begin of a run with ID "" succeeded; want an error`)
	}
	const otherKey = "shop/staging"
	if err := j.Begin(ctx, a, newRun("run-3", otherKey)); err == nil {
		r.Errorf("Begin of a run of key %q under a lease of %q succeeded; want an error", otherKey, key)
	}
	r.sameRuns(ctx, j, key, want, "after refused Begins")
	r.sameRuns(ctx, j, otherKey, nil, "after a refused Begin")
}

func checkRunsNewestFirst(ctx context.Context, j journal.Journal, r *report) {
	const otherKey = "shop/staging"
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	b, ok := r.acquire(ctx, j, otherKey, "host-b/2", liveTTL)
	if !ok {
		return
	}
	for _, run := range []struct {
		l  journal.Lease
		id string
	}{{a, "run-1"}, {b, "run-4"}, {a, "run-2"}, {a, "run-3"}} {
		if !r.begin(ctx, j, run.l, journal.Run{ID: run.id, Key: run.l.Key}) {
			return
		}
	}
	for _, c := range []struct {
		key   string
		limit int
		want  []string
	}{
		{key, 0, []string{"run-3", "run-2", "run-1"}},
		{key, 1, []string{"run-3"}},
		{key, 2, []string{"run-3", "run-2"}},
		{key, 10, []string{"run-3", "run-2", "run-1"}},
		{otherKey, 0, []string{"run-4"}},
		{"no/runs", 0, nil},
	} {
		got, err := j.Runs(ctx, c.key, c.limit)
		if err != nil {
			r.Errorf("Runs(%q, %d): %v", c.key, c.limit, err)
			continue
		}
		ids := make([]string, len(got))
		for i, run := range got {
			ids[i] = run.ID
		}
		if !slices.Equal(ids, c.want) {
			r.Errorf("Runs(%q, %d) = %q; want %q, newest first", c.key, c.limit, ids, c.want)
		}
	}
}

func checkSeq(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) {
		return
	}
	r.sameEntries(ctx, j, run.ID, nil, "of a run just begun")
	first := []journal.Entry{
		{Seq: 42, Time: started, Type: journal.TypePhase, Message: "deploy"}, // Append sets Seq and Time
		entry(journal.TypeIntent, "start v2", journal.Change{Op: "start", Version: "v2"}),
		{Type: journal.TypeVerdict, Message: "pass", Data: json.RawMessage(`{ "b": [1, 2.5, "x"], "a": null }`)},
	}
	if !r.append(ctx, j, a, run.ID, 3, first...) {
		return
	}
	second := []journal.Entry{
		entry(journal.TypeDone, "started v2", journal.Change{Op: "start", Instance: "i-7", Version: "v2"}),
		entry(journal.TypeStep, "canary 5%", journal.Change{Op: "step", Name: "canary 5%", Weight: 5}),
	}
	if !r.append(ctx, j, a, run.ID, 5, second...) {
		return
	}
	want := numbered(1, append(slices.Clone(first), second...))
	r.sameEntries(ctx, j, run.ID, want, "after two Appends")
	if got := r.entries(ctx, j, run.ID, 3); !sameEntries(got, want[3:]) {
		r.Errorf("Entries(%s, 3) = %s; want %s", run.ID, show(got), show(want[3:]))
	}
	if got := r.entries(ctx, j, run.ID, 5); len(got) != 0 {
		r.Errorf("Entries(%s, 5) = %s; want none after the last", run.ID, show(got))
	}
	r.append(ctx, j, a, run.ID, 5) // no entries: nothing written
	r.sameEntries(ctx, j, run.ID, want, "after an Append of no entries")

	// Each run numbers its own entries.
	other := newRun("run-2", key)
	if r.begin(ctx, j, a, other) {
		r.append(ctx, j, a, other.ID, 1, entry(journal.TypePhase, "preflight", nil))
	}
	if es, err := j.Entries(ctx, "no-such-run", 0); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Entries of an unknown run = %s, %v; want an error wrapping journal.ErrNotFound", show(es), err)
	}
}

func checkAppendInvalid(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	ok1 := entry(journal.TypePhase, "deploy", nil)
	if !r.begin(ctx, j, a, run) || !r.append(ctx, j, a, run.ID, 1, ok1) {
		return
	}
	want := numbered(1, []journal.Entry{ok1})
	valid := entry(journal.TypeEvent, "valid", map[string]int{"n": 1})
	for _, batch := range [][]journal.Entry{
		{valid, {Type: journal.TypeEvent, Message: "half", Data: json.RawMessage(`{"half":`)}, valid},
		{valid, {Message: "no type"}},
	} {
		if seq, err := j.Append(ctx, a, run.ID, batch...); err == nil {
			r.Errorf("Append(%s) = %d, nil; want an error for the invalid entry", show(batch), seq)
		}
	}
	r.sameEntries(ctx, j, run.ID, want, "after Appends with an invalid entry (all or none)")
	if seq, err := j.Append(ctx, a, "no-such-run", valid); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Append to an unknown run = %d, %v; want an error wrapping journal.ErrNotFound", seq, err)
	}
	b, ok := r.acquire(ctx, j, "shop/staging", "host-b/2", liveTTL)
	if !ok {
		return
	}
	if seq, err := j.Append(ctx, b, run.ID, valid); err == nil {
		r.Errorf("Append to a run of %q under a lease of %q = %d, nil; want an error", key, b.Key, seq)
	}
	r.sameEntries(ctx, j, run.ID, want, "after an Append under another key's lease")
}

func checkConcurrentAppend(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) {
		return
	}
	const writers, rounds, posters, posts = 4, 6, 2, 4
	var (
		mu   sync.Mutex
		last = map[int64]string{} // the Seq each call returned, and its call
		wg   sync.WaitGroup
	)
	returned := func(seq int64, call string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := last[seq]; dup {
			r.Errorf("%s and %s both returned Seq %d", prev, call, seq)
		}
		last[seq] = call
	}
	for w := range writers {
		// Each stops at its first failure, so that a journal that cannot
		// take concurrent writes fails once per writer, not per call.
		wg.Go(func() {
			for i := range rounds {
				call := fmt.Sprintf("w%d-%d", w, i)
				seq, err := j.Append(ctx, a, run.ID, entry(journal.TypeEvent, call+" a", nil), entry(journal.TypeEvent, call+" b", nil))
				if err != nil {
					r.Errorf("Append(%s) from one of %d goroutines: %v", call, writers+posters, err)
					return
				}
				returned(seq, call)
			}
		})
	}
	for p := range posters {
		wg.Go(func() {
			for i := range posts {
				call := fmt.Sprintf("p%d-%d", p, i)
				seq, err := j.Post(ctx, run.ID, journal.Control{Op: journal.Pause, Who: call})
				if err != nil {
					r.Errorf("Post(%s) from one of %d goroutines: %v", call, writers+posters, err)
					return
				}
				returned(seq, call)
			}
		})
	}
	wg.Wait()
	got := r.entries(ctx, j, run.ID, 0)
	if n := writers*rounds*2 + posters*posts; len(got) != n {
		r.Errorf("Entries after %d concurrent Appends of 2 entries and %d Posts: %d entries; want %d", writers*rounds, posters*posts, len(got), n)
	}
	next := map[string]int{} // each goroutine's next call
	for i, e := range got {
		if e.Seq != int64(i+1) {
			r.Errorf("entry %d of %d has Seq %d; want %d: Seqs must run 1, 2, … without gaps", i+1, len(got), e.Seq, i+1)
			return
		}
		call := strings.TrimSuffix(strings.TrimSuffix(e.Message, " a"), " b")
		if e.Type == journal.TypeControl {
			c, err := journal.ControlOf(e)
			if err != nil {
				r.Errorf("entry %d: %v", e.Seq, err)
				continue
			}
			call = c.Who
		}
		var who string
		var n int
		fmt.Sscanf(strings.Replace(call, "-", " ", 1), "%s %d", &who, &n)
		if n != next[who] {
			r.Errorf("entry %d is %q; want %s's calls in order, %s-%d next", e.Seq, e.Message, who, who, next[who])
			return
		}
		switch {
		case strings.HasSuffix(e.Message, " a"):
			if i+1 >= len(got) || got[i+1].Message != call+" b" {
				r.Errorf("entry %d is %q, but the next is not %q: an Append's entries must be consecutive", e.Seq, e.Message, call+" b")
				return
			}
		default:
			if last[e.Seq] != call {
				r.Errorf("entry %d (%q) ends call %s, which returned another Seq", e.Seq, e.Message, call)
			}
			next[who]++
		}
	}
}

func checkFinish(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run, open := newRun("run-1", key), newRun("run-2", key)
	if !r.begin(ctx, j, a, run) || !r.begin(ctx, j, a, open) || !r.append(ctx, j, a, run.ID, 1, entry(journal.TypePhase, "deploy", nil)) {
		return
	}
	runs := r.runs(ctx, j, key, 0)
	entries := r.entries(ctx, j, run.ID, 0)
	if len(runs) != 2 {
		r.Errorf("Runs(%q, 0) after two Begins = %+v; want the two runs", key, runs)
		return
	}

	// Refused: nothing changes.
	nan := record("nan")
	nan.Entries[1].Numbers[0].Value = math.NaN()
	if err := j.Finish(ctx, a, run.ID, "rolled_back", "nan", nan); err == nil {
		r.Errorf("Finish(%s) with a record holding NaN succeeded; want an error, as JSON cannot hold it", run.ID)
	}
	if err := j.Finish(ctx, a, run.ID, "", "no outcome", record("no outcome")); err == nil {
		r.Errorf(`Finish(%s) with outcome "" succeeded; want an error`, run.ID)
	}
	if err := j.Finish(ctx, a, "no-such-run", "completed", "", record("done")); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Finish of an unknown run: %v; want an error wrapping journal.ErrNotFound", err)
	}
	r.sameRuns(ctx, j, key, runs, "after refused Finishes")
	if rec, err := j.Record(ctx, run.ID); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Record(%s) after refused Finishes = %+v, %v; want an error wrapping journal.ErrNotFound", run.ID, rec.Outcome, err)
	}

	rec := record("error rate 7.8× baseline at canary 5%")
	if !r.finish(ctx, j, a, run.ID, rec) {
		return
	}
	got := r.runs(ctx, j, key, 0)
	if len(got) == 2 {
		if got[1].Finished.IsZero() {
			r.Errorf("Runs after Finish(%s): Finished is zero; want the time it finished", run.ID)
		}
		runs[1].Finished, runs[1].Outcome, runs[1].Reason = got[1].Finished, rec.Outcome, rec.Reason
	}
	r.sameRuns(ctx, j, key, runs, "after Finish")
	r.record(ctx, j, run.ID, rec)

	// A finished run takes nothing more.
	if err := j.Finish(ctx, a, run.ID, "completed", "again", record("again")); err == nil {
		r.Errorf("a second Finish(%s) succeeded; want an error", run.ID)
	}
	if seq, err := j.Append(ctx, a, run.ID, entry(journal.TypeEvent, "late", nil)); err == nil {
		r.Errorf("Append to finished run %s = %d, nil; want an error", run.ID, seq)
	}
	if seq, err := j.Post(ctx, run.ID, journal.Control{Op: journal.Abort, Who: "bob"}); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Post to finished run %s = %d, %v; want an error wrapping journal.ErrNotFound", run.ID, seq, err)
	}
	r.sameRuns(ctx, j, key, runs, "after writes to a finished run")
	r.sameEntries(ctx, j, run.ID, entries, "after writes to a finished run")
	r.record(ctx, j, run.ID, rec)
	for _, id := range []string{open.ID, "no-such-run"} {
		if rec, err := j.Record(ctx, id); !errors.Is(err, journal.ErrNotFound) {
			r.Errorf("Record(%s) of an unfinished or unknown run = %+v, %v; want an error wrapping journal.ErrNotFound", id, rec.Outcome, err)
		}
	}
}

func checkControls(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) || !r.append(ctx, j, a, run.ID, 1, entry(journal.TypePhase, "deploy", nil)) {
		return
	}
	pause := journal.Control{Op: journal.Pause, Who: "alice", Why: "error budget review"}
	if !r.post(ctx, j, run.ID, pause, 2) {
		return
	}
	for _, c := range []journal.Control{{Op: "explode", Who: "bob"}, {Op: journal.Abort}, {}} {
		if seq, err := j.Post(ctx, run.ID, c); err == nil {
			r.Errorf("Post(%s, %+v) = %d, nil; want an error: the control is invalid", run.ID, c, seq)
		} else if errors.Is(err, journal.ErrNotFound) {
			r.Errorf("Post(%s, %+v) error = %v; want one saying what is wrong with the control, not ErrNotFound", run.ID, c, err)
		}
	}
	if seq, err := j.Post(ctx, "no-such-run", pause); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Post to an unknown run = %d, %v; want an error wrapping journal.ErrNotFound", seq, err)
	}
	// Controls need no lease: the run's may have lapsed.
	if err := j.Release(ctx, a); err != nil {
		r.Errorf("Release(%+v): %v", a, err)
		return
	}
	resume := journal.Control{Op: journal.Resume, Who: "carol", Why: "review done"}
	if !r.post(ctx, j, run.ID, resume, 3) {
		return
	}
	if es := r.entries(ctx, j, run.ID, 1); len(es) == 2 {
		for i, want := range []journal.Control{pause, resume} {
			c, err := journal.ControlOf(es[i])
			if err != nil || c != want {
				r.Errorf("ControlOf(entry %d) = %+v, %v; want %+v", es[i].Seq, c, err, want)
			}
		}
	} else {
		r.Errorf("Entries(%s, 1) after two Posts = %s; want the two controls", run.ID, show(es))
	}
}

func checkNames(ctx context.Context, j journal.Journal, r *report) {
	for i, s := range []string{"ünïcödé 名前", `quote"back\slash'`, "new\nline\ttab", "<&>;--", "emoji 🚀", strings.Repeat("long", 256)} {
		k := fmt.Sprintf("%s/%d", s, i)
		l, ok := r.acquire(ctx, j, k, s, liveTTL)
		if !ok {
			continue
		}
		r.holder(ctx, j, l)
		run := journal.Run{ID: fmt.Sprintf("%s#%d", s, i), Key: k, Service: s, Environment: s, From: s, To: s, Strategy: s, PlanHash: s, Started: started}
		if !r.begin(ctx, j, l, run) {
			continue
		}
		r.sameRuns(ctx, j, k, []journal.Run{begun(run, l)}, "")
		r.held(ctx, j, k, "other", l, run.ID, run.Started)
		e := entry(journal.TypeEvent, s, map[string]string{s: s})
		if !r.append(ctx, j, l, run.ID, 1, e) {
			continue
		}
		c := journal.Control{Op: journal.Pause, Who: s, Why: s}
		if !r.post(ctx, j, run.ID, c, 2) {
			continue
		}
		if es := r.entries(ctx, j, run.ID, 0); len(es) == 2 {
			if !sameEntries(es[:1], numbered(1, []journal.Entry{e})) {
				r.Errorf("Entries(%q) = %s; want %s", run.ID, show(es[:1]), show([]journal.Entry{e}))
			}
			if got, err := journal.ControlOf(es[1]); err != nil || got != c {
				r.Errorf("ControlOf(entry 2 of %q) = %+v, %v; want %+v", run.ID, got, err, c)
			}
		}
		rec := record(s)
		rec.Runbook.Service = s
		if r.finish(ctx, j, l, run.ID, rec) {
			r.record(ctx, j, run.ID, rec)
			if got := r.runs(ctx, j, k, 1); len(got) == 1 && got[0].Reason != s {
				r.Errorf("Runs(%q) after Finish: Reason = %q; want %q", k, got[0].Reason, s)
			}
		}
	}
}

func checkCancelled(ctx context.Context, j journal.Journal, r *report) {
	a, ok := r.acquire(ctx, j, key, "host-a/1", liveTTL)
	if !ok {
		return
	}
	run := newRun("run-1", key)
	if !r.begin(ctx, j, a, run) {
		return
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// A journal may honour the cancellation or ignore it. If it fails, it
	// must say why and have written nothing; if it succeeds, it must have
	// done the work.
	honoured := func(call string, err error) bool {
		if err != nil && !errors.Is(err, context.Canceled) {
			r.Errorf("%s with a cancelled context: error = %v; want nil or one wrapping context.Canceled", call, err)
		}
		return err != nil
	}

	const other = "cancel/acquire"
	if l, err := j.Acquire(cancelled, other, "host-c/3", liveTTL); !honoured("Acquire", err) {
		r.holder(ctx, j, l)
	} else if l, err := j.Holder(ctx, other); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Holder(%q) after an Acquire that failed with a cancelled context = %+v, %v; want ErrNotFound", other, l, err)
	}
	if n, err := j.Renew(cancelled, a, 2*liveTTL); !honoured("Renew", err) {
		r.holder(ctx, j, n)
	} else {
		r.holder(ctx, j, a)
	}

	runs := r.runs(ctx, j, key, 0)
	next := newRun("run-2", key)
	heldRun := run // the newest unfinished run
	if !honoured("Begin", j.Begin(cancelled, a, next)) {
		runs = append([]journal.Run{begun(next, a)}, runs...)
		heldRun = next
	}
	r.sameRuns(ctx, j, key, runs, "after a Begin with a cancelled context")

	var want []journal.Entry
	e := entry(journal.TypeEvent, "cancelled", nil)
	if seq, err := j.Append(cancelled, a, run.ID, e); !honoured("Append", err) {
		e.Seq = seq
		want = append(want, e)
	}
	c := journal.Control{Op: journal.Pause, Who: "alice"}
	if seq, err := j.Post(cancelled, run.ID, c); !honoured("Post", err) {
		p := entry(journal.TypeControl, "", c)
		p.Seq = seq
		want = append(want, p)
	}
	got := r.entries(ctx, j, run.ID, 0)
	if len(got) != len(want) {
		r.Errorf("Entries after an Append and a Post with a cancelled context = %s; want %d entries, as many as succeeded", show(got), len(want))
	} else {
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Type != want[i].Type {
				r.Errorf("Entries after an Append and a Post with a cancelled context = %s; want %s", show(got), show(want))
				break
			}
		}
	}

	rec := record("cancelled")
	if !honoured("Finish", j.Finish(cancelled, a, run.ID, rec.Outcome, rec.Reason, rec)) {
		r.record(ctx, j, run.ID, rec)
		if heldRun.ID == run.ID {
			heldRun = journal.Run{}
		}
	} else if got, err := j.Record(ctx, run.ID); !errors.Is(err, journal.ErrNotFound) {
		r.Errorf("Record(%s) after a Finish that failed with a cancelled context = %+v, %v; want ErrNotFound", run.ID, got.Outcome, err)
	}

	_, err := j.Runs(cancelled, key, 0)
	honoured("Runs", err)
	_, err = j.Entries(cancelled, run.ID, 0)
	honoured("Entries", err)
	_, err = j.Record(cancelled, run.ID)
	if !errors.Is(err, journal.ErrNotFound) {
		honoured("Record", err)
	}
	_, err = j.Holder(cancelled, key)
	honoured("Holder", err)

	if !honoured("Release", j.Release(cancelled, a)) {
		r.acquire(ctx, j, key, "host-b/2", liveTTL) // free at once
	} else {
		r.held(ctx, j, key, "host-b/2", a, heldRun.ID, heldRun.Started)
	}
}

// acquire acquires key's lease and reports whether it could.
func (r *report) acquire(ctx context.Context, j journal.Journal, key, holder string, ttl time.Duration) (journal.Lease, bool) {
	l, err := j.Acquire(ctx, key, holder, ttl)
	if err != nil {
		r.Errorf("Acquire(%q, %q, %s) of a free lease: %v", key, holder, ttl, err)
		return l, false
	}
	return l, true
}

// held reports unless Acquire(key, holder) fails with a HeldError naming
// by's holder and token, and run, begun at started.
func (r *report) held(ctx context.Context, j journal.Journal, key, holder string, by journal.Lease, run string, started time.Time) {
	l, err := j.Acquire(ctx, key, holder, liveTTL)
	call := fmt.Sprintf("Acquire(%q, %q) while %s holds it", key, holder, by.Holder)
	var he *journal.HeldError
	switch {
	case err == nil:
		r.Errorf("%s = %+v, nil; want a *journal.HeldError", call, l)
	case !errors.Is(err, journal.ErrHeld):
		r.Errorf("%s error = %v; want one wrapping journal.ErrHeld", call, err)
	case !errors.As(err, &he):
		r.Errorf("%s error = %v (%T); want a *journal.HeldError", call, err, err)
	default:
		if he.Lease.Key != key || he.Lease.Holder != by.Holder || he.Lease.Token != by.Token {
			r.Errorf("%s: HeldError.Lease = %+v; want key %q, holder %q, token %d", call, he.Lease, key, by.Holder, by.Token)
		}
		if he.Run != run || !he.Started.Equal(started) {
			r.Errorf("%s: HeldError names run %q started %s; want run %q started %s", call, he.Run, when(he.Started), run, when(started))
		}
	}
}

// holder reports unless Holder(want.Key) returns want.
func (r *report) holder(ctx context.Context, j journal.Journal, want journal.Lease) {
	got, err := j.Holder(ctx, want.Key)
	if err != nil {
		r.Errorf("Holder(%q): %v; want %+v", want.Key, err, want)
		return
	}
	if got.Key != want.Key || got.Holder != want.Holder || got.Token != want.Token || !got.Expires.Equal(want.Expires) {
		r.Errorf("Holder(%q) = %+v; want %+v", want.Key, got, want)
	}
}

// fenced reports unless err wraps ErrFenced.
func (r *report) fenced(call string, got any, err error) {
	switch {
	case err == nil:
		if got != nil {
			r.Errorf("%s = %+v, nil; want an error wrapping journal.ErrFenced", call, got)
		} else {
			r.Errorf("%s succeeded; want an error wrapping journal.ErrFenced", call)
		}
	case !errors.Is(err, journal.ErrFenced):
		r.Errorf("%s error = %v; want one wrapping journal.ErrFenced", call, err)
	}
}

// begin begins run under l and reports whether it could.
func (r *report) begin(ctx context.Context, j journal.Journal, l journal.Lease, run journal.Run) bool {
	if err := j.Begin(ctx, l, run); err != nil {
		r.Errorf("Begin(%s) under %s's live lease: %v", run.ID, l.Holder, err)
		return false
	}
	return true
}

// append appends es to run under l, reports unless Append returns want as
// the last Seq, and reports whether it succeeded.
func (r *report) append(ctx context.Context, j journal.Journal, l journal.Lease, run string, want int64, es ...journal.Entry) bool {
	seq, err := j.Append(ctx, l, run, es...)
	switch {
	case err != nil:
		r.Errorf("Append(%s, %d entries) under %s's live lease: %v", run, len(es), l.Holder, err)
		return false
	case seq != want:
		r.Errorf("Append(%s, %d entries) = %d; want the run's last Seq, %d", run, len(es), seq, want)
	}
	return true
}

// post posts c to run, reports unless Post returns want, and reports
// whether it succeeded.
func (r *report) post(ctx context.Context, j journal.Journal, run string, c journal.Control, want int64) bool {
	seq, err := j.Post(ctx, run, c)
	switch {
	case err != nil:
		r.Errorf("Post(%s, %+v): %v", run, c, err)
		return false
	case seq != want:
		r.Errorf("Post(%s, %+v) = %d; want Seq %d", run, c, seq, want)
	}
	return true
}

// finish finishes run under l with rec's outcome and reason and reports
// whether it could.
func (r *report) finish(ctx context.Context, j journal.Journal, l journal.Lease, run string, rec runbook.Record) bool {
	if err := j.Finish(ctx, l, run, rec.Outcome, rec.Reason, rec); err != nil {
		r.Errorf("Finish(%s) under %s's live lease: %v", run, l.Holder, err)
		return false
	}
	return true
}

// record reports unless Record(run) returns rec.
func (r *report) record(ctx context.Context, j journal.Journal, run string, rec runbook.Record) {
	got, err := j.Record(ctx, run)
	if err != nil {
		r.Errorf("Record(%s) of a finished run: %v", run, err)
		return
	}
	if diff := cmp.Diff(stored(rec), got); diff != "" {
		r.Errorf("Record(%s) mismatch (-want +got):\n%s", run, diff)
	}
}

// runs returns Runs(key, limit), reporting an error.
func (r *report) runs(ctx context.Context, j journal.Journal, key string, limit int) []journal.Run {
	got, err := j.Runs(ctx, key, limit)
	if err != nil {
		r.Errorf("Runs(%q, %d): %v", key, limit, err)
	}
	return got
}

// sameRuns reports unless Runs(key, 0) returns want; when says when.
func (r *report) sameRuns(ctx context.Context, j journal.Journal, key string, want []journal.Run, when string) {
	got, err := j.Runs(ctx, key, 0)
	if err != nil {
		r.Errorf("Runs(%q, 0) %s: %v", key, when, err)
		return
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		r.Errorf("Runs(%q, 0) %s mismatch (-want +got):\n%s", key, when, diff)
	}
}

// entries returns Entries(run, after), reporting an error.
func (r *report) entries(ctx context.Context, j journal.Journal, run string, after int64) []journal.Entry {
	got, err := j.Entries(ctx, run, after)
	if err != nil {
		r.Errorf("Entries(%s, %d): %v", run, after, err)
	}
	return got
}

// sameEntries reports unless Entries(run, 0) returns want, but for their
// Time, which must not be zero; when says when.
func (r *report) sameEntries(ctx context.Context, j journal.Journal, run string, want []journal.Entry, when string) {
	got, err := j.Entries(ctx, run, 0)
	if err != nil {
		r.Errorf("Entries(%s, 0) %s: %v", run, when, err)
		return
	}
	if !sameEntries(got, want) {
		r.Errorf("Entries(%s, 0) %s = %s; want %s", run, when, show(got), show(want))
	}
}

// numbered returns es numbered from first, as Append stores them.
func numbered(first int64, es []journal.Entry) []journal.Entry {
	out := slices.Clone(es)
	for i := range out {
		out[i].Seq, out[i].Time = first+int64(i), time.Time{}
	}
	return out
}

// sameEntries reports whether got and want hold the same entries: the
// same Seq, Type and Message, Data that is the same JSON value (a journal
// may store JSON in a normal form), and a Time that is not zero in got.
func sameEntries(got, want []journal.Entry) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.Type != w.Type || g.Message != w.Message || g.Time.IsZero() || !sameJSON(g.Data, w.Data) {
			return false
		}
	}
	return true
}

// sameJSON reports whether a and b are the same JSON value, or both empty.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return cmp.Equal(va, vb)
}

// show formats entries for a report: Seq, Type, Message and Data.
func show(es []journal.Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, e := range es {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "{%d %s %q", e.Seq, e.Type, e.Message)
		if len(e.Data) > 0 {
			fmt.Fprintf(&b, " %s", e.Data)
		}
		if e.Time.IsZero() {
			b.WriteString(" time zero")
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	return b.String()
}

// when formats t for a report.
func when(t time.Time) string {
	if t.IsZero() {
		return "(never)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sleep sleeps for d, or reports and returns false if ctx is done first.
func (r *report) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		r.Errorf("stopped waiting for a lease to expire: %v", context.Cause(ctx))
		return false
	}
}
