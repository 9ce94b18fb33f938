package journaltest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/journaltest"
	"github.com/safedeploy/safedeploy/runbook"
)

func TestRunMemory(t *testing.T) {
	journaltest.Run(t, func(*testing.T) journal.Journal { return new(journal.Memory) })
}

// TestCheckMemoryInBubble runs the checks on Memory in a synctest bubble,
// where its clock is the bubble's: the sleeps take no time.
func TestCheckMemoryInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := journaltest.Check(t.Context(), func() (journal.Journal, error) { return new(journal.Memory), nil }); err != nil {
			t.Errorf("Check(Memory) = %v, want nil", err)
		}
		if d := time.Since(start); d < 600*time.Millisecond {
			t.Errorf("the checks slept %s of the bubble's time; want three waits for a lease to expire, 600ms", d)
		}
	})
}

// slowRenew is a Memory whose Renew takes delay, as a journal on a
// stalled machine or a distant database may.
type slowRenew struct {
	journal.Memory
	delay time.Duration
}

func (j *slowRenew) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	select {
	case <-time.After(j.delay):
	case <-ctx.Done():
		return journal.Lease{}, ctx.Err()
	}
	return j.Memory.Renew(ctx, l, ttl)
}

// TestCheckSlowRenewInBubble: a journal that keeps the contract but takes
// 2s to renew, as on a machine that stops the process for that long,
// passes: the Renew check tries longer ttls until the renewal comes in
// time.
func TestCheckSlowRenewInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := journaltest.Check(t.Context(), func() (journal.Journal, error) { return &slowRenew{delay: 2 * time.Second}, nil })
		if err != nil {
			t.Errorf("Check(a Memory that takes 2s to renew) = %v, want nil", err)
		}
	})
}

// A broken journal is journal.Memory, or a journal like it, with one
// mistake a real implementation could make.
type broken struct {
	name string
	new  func() journal.Journal
	// fails are the checks that must fail, and no others.
	fails []string
	// says are substrings of Check's report: what the journal did wrong.
	says []string
	// bubble marks a journal that fails deterministically only in a
	// synctest bubble. Run cannot be tested on it: subtests cannot run in
	// a bubble.
	bubble bool
}

func brokenJournals() []broken {
	return []broken{{
		name:  "append-unfenced",
		new:   func() journal.Journal { return new(unfenced) },
		fails: []string{"FencingSuperseded", "FencingExpired"},
		says: []string{
			"FencingSuperseded: Append to run-1 under a lease that was superseded succeeded; want an error wrapping journal.ErrFenced",
			"FencingExpired: Append to run-1 under a lease that expired and was taken succeeded; want an error wrapping journal.ErrFenced",
			"FencingSuperseded: Append under a made-up lease (shop/production token 3) succeeded; want an error wrapping journal.ErrFenced",
		},
	}, {
		name:  "append-writes-then-fences",
		new:   func() journal.Journal { return new(writesThenFences) },
		fails: []string{"FencingSuperseded", "FencingExpired"},
		says: []string{
			`FencingSuperseded: Entries(run-1, 0) after writes under a lease that was superseded = [{1 phase "deploy"} {2 intent "start v2" {"op":"start","version":"v2"}}]; want [{1 phase "deploy"}]`,
			"FencingExpired: Append(run-1, 1 entries) = 3; want the run's last Seq, 2",
		},
	}, {
		name:  "held-error-without-run",
		new:   func() journal.Journal { return new(heldWithoutRun) },
		fails: []string{"Acquire", "Names"},
		says:  []string{`Acquire: Acquire("shop/production", "host-b/2") while host-a/1 holds it: HeldError names run "" started (never); want run "run-1" started 2025-03-01T12:00:00Z`},
	}, {
		name:  "runs-oldest-first",
		new:   func() journal.Journal { return new(oldestFirst) },
		fails: []string{"Begin", "RunsNewestFirst", "Finish"},
		says:  []string{`RunsNewestFirst: Runs("shop/production", 2) = ["run-1" "run-2"]; want ["run-3" "run-2"], newest first`},
	}, {
		name:  "ttl-ignored",
		new:   func() journal.Journal { return new(everlasting) },
		fails: []string{"Expiry", "Renew"},
		says:  []string{`Expiry: Acquire("shop/production", "host-b/2", 1m0s) of a free lease: journal: shop/production is held by host-a/1 until`},
	}, {
		name:  "renew-not-stored",
		new:   func() journal.Journal { return new(renewNotStored) },
		fails: []string{"Renew", "FencingExpired"},
		says: []string{
			`Renew: Holder("shop/production") = {Key:shop/production Holder:host-a/1 Token:1`,
			"Renew: Renew({Key:shop/production Holder:host-a/1 Token:1",
			"want an error: the ttl must be positive",
			`Renew: Acquire("renew/150ms", "host-b/2") while host-a/1 holds it = {Key:renew/150ms Holder:host-b/2 Token:2`,
			"FencingExpired: Begin(run-2) under a lease that expired succeeded; want an error wrapping journal.ErrFenced",
		},
	}, {
		name:  "post-error-not-wrapped",
		new:   func() journal.Journal { return new(opaquePost) },
		fails: []string{"Finish", "Controls"},
		says: []string{
			"Controls: Post to an unknown run = 0, no running run no-such-run; want an error wrapping journal.ErrNotFound",
			"Finish: Post to finished run run-1 = 0, no running run run-1; want an error wrapping journal.ErrNotFound",
		},
	}, {
		name:  "record-without-entries",
		new:   func() journal.Journal { return new(recordWithoutEntries) },
		fails: []string{"FencingSuperseded", "FencingExpired", "Finish", "Names"},
		says: []string{
			"FencingSuperseded: Record(run-1) mismatch (-want +got):",
			"Finish: Finish(run-1) with a record holding NaN succeeded; want an error, as JSON cannot hold it",
		},
	}, {
		name:  "cancelled-append-dropped",
		new:   func() journal.Journal { return new(fireAndForget) },
		fails: []string{"CancelledContext"},
		says:  []string{`CancelledContext: Entries after an Append and a Post with a cancelled context = []; want 1 entries, as many as succeeded`},
	}, {
		name:  "seq-per-call",
		new:   func() journal.Journal { return new(seqPerCall) },
		fails: []string{"Seq", "FencingSuperseded", "FencingExpired", "ConcurrentAppend"},
		says:  []string{"Seq: Append(run-1, 2 entries) = 2; want the run's last Seq, 5"},
	}, {
		name:   "acquire-check-then-act",
		new:    func() journal.Journal { return new(racyAcquire) },
		fails:  []string{"ConcurrentAcquire"},
		says:   []string{"ConcurrentAcquire: round 1: 12 of 12 concurrent Acquires of a free lease succeeded"},
		bubble: true,
	}}
}

// checkName matches the check a line of Check's report is about.
var checkName = regexp.MustCompile(`(?m)^([A-Z]\w*): `)

// TestCheckCatchesBrokenJournals runs Check on each broken journal in a
// synctest bubble, where the journals' clock is the bubble's: what the
// report says about leases cannot depend on how long the machine took
// between two calls. (Outside a bubble, a stall of 150ms between the
// Acquire and the Renew of the Renew check made it report its next try,
// with a longer ttl.) TestRunCatchesBrokenJournals checks them in real
// time.
func TestCheckCatchesBrokenJournals(t *testing.T) {
	for _, b := range brokenJournals() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			var err error
			synctest.Test(t, func(t *testing.T) {
				err = journaltest.Check(t.Context(), func() (journal.Journal, error) { return b.new(), nil })
			})
			if err == nil {
				t.Fatal("Check passed the broken journal")
			}
			var failed []string
			for _, m := range checkName.FindAllStringSubmatch(err.Error(), -1) {
				failed = append(failed, m[1])
			}
			if diff := cmp.Diff(sorted(b.fails), sorted(failed)); diff != "" {
				t.Errorf("failed checks mismatch (-want +got):\n%s\nreport:\n%v", diff, err)
			}
			for _, want := range b.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check report does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

// childEnv, set to "1", makes TestRunCatchesBrokenJournals run Run on the
// broken journals, failing, in a child process.
const childEnv = "JOURNALTEST_RUN_BROKEN"

// TestRunCatchesBrokenJournals runs Run on the broken journals in a child
// process, where its failures cannot fail this test, and checks that the
// subtests that fail are the same checks that fail under Check.
func TestRunCatchesBrokenJournals(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		for _, b := range brokenJournals() {
			if !b.bubble {
				t.Run(b.name, func(t *testing.T) {
					t.Parallel()
					journaltest.Run(t, func(*testing.T) journal.Journal { return b.new() })
				})
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("runs every check on every broken journal again, in a child process")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRunCatchesBrokenJournals$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) {
		t.Fatalf("child process: error = %v, want it to exit with an error as its checks fail; output:\n%s", err, out)
	}
	failed := make(map[string][]string)
	fail := regexp.MustCompile(`(?m)^\s*--- FAIL: TestRunCatchesBrokenJournals/([^/\s]+)/(\S+) `)
	for _, m := range fail.FindAllStringSubmatch(string(out), -1) {
		failed[m[1]] = append(failed[m[1]], m[2])
	}
	for _, b := range brokenJournals() {
		if b.bubble {
			continue
		}
		if diff := cmp.Diff(sorted(b.fails), sorted(failed[b.name])); diff != "" {
			t.Errorf("%s: failed subtests mismatch (-want +got):\n%s", b.name, diff)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

func TestCheckStops(t *testing.T) {
	t.Run("newJournal fails", func(t *testing.T) {
		errDown := errors.New("database down")
		calls := 0
		err := journaltest.Check(t.Context(), func() (journal.Journal, error) {
			calls++
			if calls > 1 {
				return nil, errDown
			}
			return new(heldWithoutRun), nil
		})
		if !errors.Is(err, errDown) {
			t.Errorf("Check error = %v, want one wrapping %v", err, errDown)
		}
		// The failures found before newJournal failed are kept.
		if err == nil || !strings.HasPrefix(err.Error(), "Acquire: ") || !strings.HasSuffix(err.Error(), "\njournaltest: stopped at ConcurrentAcquire: newJournal: database down") {
			t.Errorf("Check error =\n%v\nwant Acquire's failures, then that it stopped", err)
		}
		if calls != 2 {
			t.Errorf("Check called newJournal %d times after it failed, want no more", calls-2)
		}
	})
	t.Run("newJournal returns nil", func(t *testing.T) {
		err := journaltest.Check(t.Context(), func() (journal.Journal, error) { return nil, nil })
		if want := "journaltest: stopped at Acquire: newJournal: returned a nil Journal"; err == nil || err.Error() != want {
			t.Errorf("Check error = %v, want %q", err, want)
		}
	})
	t.Run("context done", func(t *testing.T) {
		errShutdown := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(errShutdown)
		err := journaltest.Check(ctx, func() (journal.Journal, error) {
			t.Error("Check called newJournal with its context done")
			return new(journal.Memory), nil
		})
		if want := "journaltest: stopped before Acquire: shutting down"; !errors.Is(err, errShutdown) || err.Error() != want {
			t.Errorf("Check error = %v, want %q, wrapping the context's cause", err, want)
		}
	})
}

// closer is a Memory that counts its Close calls, and fails the second.
type closer struct {
	journal.Memory
	closed *atomic.Int32
}

func (c *closer) Close() error {
	if c.closed.Add(1) == 2 {
		return errors.New("disk full")
	}
	return nil
}

func TestCheckClosesJournals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closed, opened atomic.Int32
		err := journaltest.Check(t.Context(), func() (journal.Journal, error) {
			opened.Add(1)
			return &closer{closed: &closed}, nil
		})
		if want := "ConcurrentAcquire: Close: disk full"; err == nil || err.Error() != want {
			t.Errorf("Check error = %v, want %q", err, want)
		}
		if opened.Load() != closed.Load() {
			t.Errorf("Check opened %d journals and closed %d; want every one closed", opened.Load(), closed.Load())
		}
	})
}

// sorted returns the distinct strings of s, sorted.
func sorted(s []string) []string { return slices.Compact(slices.Sorted(slices.Values(s))) }

// unfenced appends under the key's current lease, whatever the caller's.
type unfenced struct{ journal.Memory }

func (j *unfenced) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	cur, err := j.Holder(ctx, l.Key)
	if err != nil {
		return 0, err
	}
	return j.Memory.Append(ctx, cur, run, es...)
}

// writesThenFences checks the caller's lease only after it wrote.
type writesThenFences struct{ journal.Memory }

func (j *writesThenFences) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	cur, err := j.Holder(ctx, l.Key)
	if err != nil {
		return 0, err
	}
	seq, err := j.Memory.Append(ctx, cur, run, es...)
	if err == nil && cur.Token != l.Token {
		return 0, fmt.Errorf("%w: token %d, newest %d", journal.ErrFenced, l.Token, cur.Token)
	}
	return seq, err
}

// heldWithoutRun says who holds a lease, but not what it is running.
type heldWithoutRun struct{ journal.Memory }

func (j *heldWithoutRun) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	l, err := j.Memory.Acquire(ctx, key, holder, ttl)
	if he := (*journal.HeldError)(nil); errors.As(err, &he) {
		return l, &journal.HeldError{Lease: he.Lease}
	}
	return l, err
}

// oldestFirst lists runs in the order they began, as a query without
// ORDER BY … DESC would.
type oldestFirst struct{ journal.Memory }

func (j *oldestFirst) Runs(ctx context.Context, key string, limit int) ([]journal.Run, error) {
	runs, err := j.Memory.Runs(ctx, key, 0)
	slices.Reverse(runs)
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	return runs, err
}

// everlasting gives leases a thousand times the ttl asked for, as a
// journal that took a ttl in seconds for one in milliseconds might.
type everlasting struct{ journal.Memory }

func (j *everlasting) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	return j.Memory.Acquire(ctx, key, holder, 1000*ttl)
}

// renewNotStored answers a renewal without recording it.
type renewNotStored struct{ journal.Memory }

func (j *renewNotStored) Renew(ctx context.Context, l journal.Lease, ttl time.Duration) (journal.Lease, error) {
	if err := ctx.Err(); err != nil {
		return journal.Lease{}, err
	}
	cur, err := j.Holder(ctx, l.Key)
	if err != nil || cur.Token != l.Token || !time.Now().Before(cur.Expires) {
		return journal.Lease{}, fmt.Errorf("%w: %s token %d", journal.ErrFenced, l.Key, l.Token)
	}
	l.Expires = time.Now().Add(ttl)
	return l, nil
}

// opaquePost keeps only the text of the errors of Post.
type opaquePost struct{ journal.Memory }

func (j *opaquePost) Post(ctx context.Context, run string, c journal.Control) (int64, error) {
	seq, err := j.Memory.Post(ctx, run, c)
	if errors.Is(err, journal.ErrNotFound) {
		return seq, errors.New("no running run " + run)
	}
	return seq, err
}

// recordWithoutEntries loses a record's entries, as a journal that stored
// the record in columns and forgot one might.
type recordWithoutEntries struct{ journal.Memory }

func (j *recordWithoutEntries) Finish(ctx context.Context, l journal.Lease, run, outcome, reason string, rec runbook.Record) error {
	rec.Entries = nil
	return j.Memory.Finish(ctx, l, run, outcome, reason, rec)
}

// fireAndForget acknowledges an Append at once, and drops it if ctx is
// done before it gets to write.
type fireAndForget struct{ journal.Memory }

func (j *fireAndForget) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	if ctx.Err() != nil {
		return 1, nil // the mistake: the write is lost, but reported as done
	}
	return j.Memory.Append(ctx, l, run, es...)
}

// seqPerCall returns how many entries it appended, not the last Seq.
type seqPerCall struct{ journal.Memory }

func (j *seqPerCall) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	_, err := j.Memory.Append(ctx, l, run, es...)
	return int64(len(es)), err
}

// racyAcquire looks whether a lease is free, and then takes it, in two
// steps: two holders can both see it free and both take it. Each step
// takes a millisecond, so that in a synctest bubble every other goroutine
// looks meanwhile.
// The taking is one step under a mutex, so that every holder that saw the
// lease free gets it, whatever order the woken goroutines run in.
type racyAcquire struct {
	journal.Memory
	take sync.Mutex
}

func (j *racyAcquire) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (journal.Lease, error) {
	if cur, err := j.Holder(ctx, key); err == nil && time.Now().Before(cur.Expires) {
		return j.Memory.Acquire(ctx, key, holder, ttl) // the HeldError
	}
	time.Sleep(time.Millisecond)
	j.take.Lock()
	defer j.take.Unlock()
	if cur, err := j.Holder(ctx, key); err == nil {
		j.Release(ctx, cur) // it was free a moment ago
	}
	return j.Memory.Acquire(ctx, key, holder, ttl)
}
