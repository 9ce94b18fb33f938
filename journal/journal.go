// Package journal keeps deployments outside the process that runs them: a
// durable log of every run, one lease per service and environment with a
// fencing token, and the controls operators post from other processes.
//
// The deploy executor writes to a Journal before every action that depends
// on what it wrote (an intent before each change to the target, the change
// after it), so that a process killed at any point leaves a journal that
// says what was intended and what was done. The next run for the same
// service reads it, compares it with what the target reports, and finishes
// the interrupted run (see deploy.Plan.Journal).
//
// # Leases and fencing
//
// A Lease on a key ("shop/production") is held by one holder at a time
// until it expires; the holder renews it while it runs. Every acquisition
// gets a larger Token than any before it for that key. Every write carries
// the writer's lease, and a Journal refuses (ErrFenced) a write whose token
// is no longer the key's newest: a holder that stalled past its lease (a
// long GC pause, SIGSTOP, a partition from the database) and came back after
// another took over cannot write, and the executor then stops touching the
// target. Leases are timed by the journal's own clock where it has one (the
// database server's), so holders on several hosts need not agree on time.
//
// # Implementations
//
// Memory is for tests and single-process use. Package journal/sqlite keeps
// a journal in one SQLite file (the embedded default); journal/postgres in
// a PostgreSQL database. Package journal/journaltest tests any
// implementation against the contract.
//
// # Cost
//
// A deployment writes, besides its lease (acquired and released; renewed
// every third of its time-to-live), its begin and its finish: one entry per
// phase and pre-flight check, the baseline (as an event and as data a
// resume can judge against), the fleet before the first change, an intent
// and a result for every change to the target, and for every step one step
// entry, one verdict and one measurement per Policy.Interval of its window.
// Each entry is its own write: an intent must be durable before its change
// is made. BenchmarkJournalCost in internal/demo/fleetdeploy runs the same
// canary (8 instances; steps 1, 5, 25, 50 and 100%, each observed for
// 20 ms and judged every 5 ms, so that the journal's time is not lost in
// minutes of waiting) with no journal and with each kind, side by side:
//
//	go test -run '^$' -bench BenchmarkJournalCost -benchmem -benchtime 10x ./internal/demo/fleetdeploy/
//
//	journal    ms/step  writes/deploy  entries/deploy  allocs/op
//	none         22.4              –               –       1838
//	Memory       24.7             88              84       5126
//	SQLite       60.8             88              84      16317
//	PostgreSQL   58.4             88              84      17518
//
// (2 shared AMD EPYC cores, load average 11 from other builds, PostgreSQL
// 15 from internal/testserver/pgtest with fsync off, SQLite on a temporary
// file; ms/step is a deployment's wall time over its 5 steps.) On that
// machine a durable journal adds some 35 ms to each step, nearly all of it
// the 2 to 3 ms each write waits for the database; a default canary step
// (5 minutes, judged every minute) writes some 10 to 20 entries, and
// spends well under a second of its window on them. The figures move with the load
// (SQLite measured 41 ms/step in a quieter run a minute earlier).
package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
)

// Errors a caller can branch on with errors.Is.
var (
	// ErrHeld: the key's lease is held by another holder and has not
	// expired. The error is a *HeldError naming the holder.
	ErrHeld = errors.New("journal: lease held")
	// ErrFenced: the writer's lease is no longer the key's newest; another
	// holder has taken over. The writer must stop acting.
	ErrFenced = errors.New("journal: fenced by a newer lease")
	// ErrNotFound: no such run, or no run for the key.
	ErrNotFound = errors.New("journal: not found")
	// ErrCorrupt: the journal's storage is not a journal this package
	// wrote (a foreign file or table, an unknown schema version, a record
	// that does not decode). The error names the file or table.
	ErrCorrupt = errors.New("journal: corrupt or foreign storage")
)

// A Lease is the right to run deployments of one key.
type Lease struct {
	// Key names what the lease guards: Key(service, environment).
	Key string `json:"key"`
	// Holder names the holder, for people: "host/pid".
	Holder string `json:"holder"`
	// Token is the fencing token: larger for every acquisition of Key.
	Token int64 `json:"token"`
	// Expires is when the lease lapses unless renewed, by the journal's
	// clock.
	Expires time.Time `json:"expires"`
}

// Key returns the lease key of a service in an environment.
func Key(service, environment string) string { return service + "/" + environment }

// A HeldError is returned by Acquire when another holder has the lease.
type HeldError struct {
	Lease Lease
	// Run is the run the holder is carrying out, and Started when it
	// began; empty and zero when it has none.
	Run     string
	Started time.Time
}

// Error names the holder, its run and when it started.
func (e *HeldError) Error() string {
	s := fmt.Sprintf("journal: %s is held by %s until %s", e.Lease.Key, e.Lease.Holder, e.Lease.Expires.Format(time.RFC3339))
	if e.Run != "" {
		s += fmt.Sprintf(", running %s since %s", e.Run, e.Started.Format(time.RFC3339))
	}
	return s
}

// Is reports whether target is ErrHeld.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// A Run is one run of a deployment, as Begin records it.
type Run struct {
	// ID identifies the run; Begin's caller chooses it.
	ID string `json:"id"`
	// Key is the lease key the run belongs to.
	Key string `json:"key"`
	// Service, Environment, From and To say what is deployed.
	Service     string `json:"service"`
	Environment string `json:"environment"`
	From        string `json:"from"`
	To          string `json:"to"`
	// Strategy names the strategy; PlanHash identifies the plan, so that a
	// rerun of the same plan can be told from a new one.
	Strategy string `json:"strategy"`
	PlanHash string `json:"plan_hash"`
	// Holder is who began the run, and Token its lease's token.
	Holder string `json:"holder"`
	Token  int64  `json:"token"`
	// Started is when the run began; Finished when it ended, zero while
	// it has not.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Outcome is how it ended ("completed", "rolled_back"…), empty while
	// it has not.
	Outcome string `json:"outcome,omitempty"`
	// Reason explains the outcome.
	Reason string `json:"reason,omitempty"`
}

// An Entry is one thing a run recorded.
type Entry struct {
	// Seq numbers the run's entries from 1, in the order written; Append
	// assigns it.
	Seq int64 `json:"seq"`
	// Time is when the entry was written.
	Time time.Time `json:"time"`
	// Type says what the entry is: one of the Type constants.
	Type string `json:"type"`
	// Message describes it for people.
	Message string `json:"message,omitempty"`
	// Data holds what the executor needs to act on it again: a Change, a
	// Control, a verdict's numbers. Nil when there is nothing.
	Data json.RawMessage `json:"data,omitempty"`
}

// Entry types.
const (
	TypePhase    = "phase"    // a phase began
	TypeIntent   = "intent"   // a change to the target is about to be made (Data: Change)
	TypeDone     = "done"     // the change was made (Data: Change)
	TypeFailed   = "failed"   // the change failed (Data: Change)
	TypeStep     = "step"     // a strategy step was reached (Data: Change with Op "step")
	TypeVerdict  = "verdict"  // a window's verdict, with its numbers
	TypeDecision = "decision" // the decision table's answer
	TypeTakeover = "takeover" // another holder took over the run
	TypeControl  = "control"  // an operator's control (Data: Control)
	TypeEvent    = "event"    // any other event of the run
	TypeFleet    = "fleet"    // the fleet before the first change (Data: Fleet)
	TypeBaseline = "baseline" // the baseline the run judges against (Data: as its reader wrote it)
)

// A Change is a change to the target, in an intent or done entry.
type Change struct {
	// Op is "start", "stop", "route", "switch", "flag", "migration" or
	// "step".
	Op string `json:"op"`
	// Instance is the instance started or stopped (empty in a start's
	// intent: the ID is known once it started).
	Instance string `json:"instance,omitempty"`
	// Version is the version started, routed to or switched to.
	Version string `json:"version,omitempty"`
	// Stable and Weight are a route's versions and weight in percent; for
	// a step, Weight is the step's weight.
	Stable string  `json:"stable,omitempty"`
	Weight float64 `json:"weight,omitempty"`
	// Name names the flag, migration or step.
	Name string `json:"name,omitempty"`
	// Enabled is a flag's new state.
	Enabled bool `json:"enabled,omitempty"`
}

// A Fleet is what ran before a deployment changed anything, so that a
// recovery knows what to restore.
type Fleet struct {
	// Version is the version all instances ran, and Instances their IDs.
	Version   string   `json:"version"`
	Instances []string `json:"instances"`
}

// A Control is an operator's instruction to a running deployment.
type Control struct {
	// Op is "pause", "resume", "promote" or "abort".
	Op string `json:"op"`
	// Who asked, and Why.
	Who string `json:"who"`
	Why string `json:"why"`
}

// The control operations.
const (
	Pause   = "pause"   // hold at the current step; observation goes on
	Resume  = "resume"  // undo a pause
	Promote = "promote" // end the current step's observation now, go on
	Abort   = "abort"   // roll back now
)

// Validate reports an unknown Op or a missing Who.
func (c Control) Validate() error {
	var errs []string
	switch c.Op {
	case Pause, Resume, Promote, Abort:
	default:
		errs = append(errs, fmt.Sprintf("Op = %q: want pause, resume, promote or abort", c.Op))
	}
	if c.Who == "" {
		errs = append(errs, `Who = "": say who asks`)
	}
	if len(errs) > 0 {
		return fmt.Errorf("journal: invalid control: %s", strings.Join(errs, "; "))
	}
	return nil
}

// A Journal stores runs, their entries and records, the leases that make
// one run per key at a time, and operators' controls. Implementations are
// safe for concurrent use by many processes; every write under a lease is
// atomic and refused with ErrFenced, writing nothing, unless the lease's
// token is the key's newest and the lease has not expired, checked in the
// same transaction as the write. Package journal/journaltest checks an
// implementation against this contract.
type Journal interface {
	Leases
	Writer
	Reader
}

// Leases hands out one lease per key.
type Leases interface {
	// Acquire gives holder the key's lease for ttl, with a new, larger
	// token, when no one holds it or its holder's lease has expired; else
	// it fails with a *HeldError, even when holder is the one holding it.
	// Key and holder must not be empty, and ttl must be positive.
	Acquire(ctx context.Context, key, holder string, ttl time.Duration) (Lease, error)
	// Renew extends l for ttl (positive) from now, by the journal's clock.
	// It fails with ErrFenced when l is not the key's newest lease or has
	// expired: a lease that lapsed is lost even if no one has taken it
	// yet, and its holder must Acquire a new one (with a new token).
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release gives l up, so that the next Acquire need not wait for it to
	// expire. Releasing a lease that was superseded does nothing.
	Release(ctx context.Context, l Lease) error
}

// Writer records runs under a lease, and controls from anyone.
type Writer interface {
	// Begin records a new run under l (r.Key must be l.Key), with l's
	// Holder and Token, Started as given or now when zero, and no outcome.
	// It fails for an empty or existing r.ID.
	Begin(ctx context.Context, l Lease, r Run) error
	// Append adds entries to run under l, in order, assigning each its
	// Seq and Time (the caller's are ignored), and returns the run's last
	// Seq. l's key must be the run's, which may have been begun under an
	// older lease of that key (a holder that took over finishes the run).
	// The entries are written all or none: Append fails, writing nothing,
	// for an entry that Entry.Validate refuses, an unknown run
	// (ErrNotFound) or a finished one.
	Append(ctx context.Context, l Lease, run string, es ...Entry) (int64, error)
	// Finish records how run ended (outcome must not be empty) and its
	// record, at once. A finished run takes no more entries, no controls
	// and no second Finish. It fails with ErrNotFound for an unknown run,
	// and for a record that cannot be encoded (a NaN number), finishing
	// nothing.
	Finish(ctx context.Context, l Lease, run, outcome, reason string, rec runbook.Record) error
	// Post adds a control entry to run from outside the run: no lease is
	// needed. It fails with ErrNotFound for an unknown or finished run.
	Post(ctx context.Context, run string, c Control) (int64, error)
}

// Reader reads runs back.
type Reader interface {
	// Runs returns key's runs, newest first, at most limit (all for 0).
	Runs(ctx context.Context, key string, limit int) ([]Run, error)
	// Entries returns run's entries with Seq above after, in order.
	Entries(ctx context.Context, run string, after int64) ([]Entry, error)
	// Record returns a finished run's record, or ErrNotFound.
	Record(ctx context.Context, run string) (runbook.Record, error)
	// Holder returns the key's current lease, which may have expired, or
	// ErrNotFound when the key has never been leased.
	Holder(ctx context.Context, key string) (Lease, error)
}

// ControlOf decodes a control entry's Data.
func ControlOf(e Entry) (Control, error) {
	var c Control
	if e.Type != TypeControl {
		return c, fmt.Errorf("journal: entry %d is a %s, not a control", e.Seq, e.Type)
	}
	if err := json.Unmarshal(e.Data, &c); err != nil {
		return c, fmt.Errorf("%w: control entry %d: %w", ErrCorrupt, e.Seq, err)
	}
	return c, nil
}

// Validate reports an entry a journal must not store: one without a Type,
// or whose Data is neither empty nor valid JSON. The error names the field
// and the entry's Type and Message.
func (e Entry) Validate() error {
	var errs []string
	if e.Type == "" {
		errs = append(errs, `Type = "": say what the entry is`)
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		d := string(e.Data)
		if len(d) > 40 {
			d = d[:40] + "…"
		}
		errs = append(errs, fmt.Sprintf("Data = %q: not JSON", d))
	}
	if len(errs) > 0 {
		return fmt.Errorf("journal: invalid %s entry %q: %s", e.Type, e.Message, strings.Join(errs, "; "))
	}
	return nil
}

// ChangeOf decodes an intent, done, failed or step entry's Data.
func ChangeOf(e Entry) (Change, error) {
	var c Change
	if err := json.Unmarshal(e.Data, &c); err != nil {
		return c, fmt.Errorf("%w: entry %d: %w", ErrCorrupt, e.Seq, err)
	}
	return c, nil
}

// NewEntry returns an entry of type typ with message msg and data v
// encoded as JSON (no data for a nil v). It fails only for a v that JSON
// cannot encode, such as a NaN weight.
func NewEntry(typ, msg string, v any) (Entry, error) {
	e := Entry{Type: typ, Message: msg}
	if v == nil {
		return e, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return e, fmt.Errorf("journal: %s entry %q: %w", typ, msg, err)
	}
	e.Data = b
	return e, nil
}
