package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// A Phase is one of the five phases of a deployment.
type Phase string

// The phases, in order. Decide covers completing as well as rolling back.
const (
	PhasePreflight Phase = "preflight"
	PhaseDatabase  Phase = "database"
	PhaseDeploy    Phase = "deploy"
	PhaseVerify    Phase = "verify"
	PhaseDecide    Phase = "decide"
)

// A Kind says what an Event reports.
type Kind string

// The kinds of event.
const (
	// KindPhase: a phase started.
	KindPhase Kind = "phase"
	// KindCheck: a pre-flight check passed (Err nil) or failed.
	KindCheck Kind = "check"
	// KindBaseline: the pre-deploy baseline was captured.
	KindBaseline Kind = "baseline"
	// KindMigration: a migration was applied, retried or failed; or the
	// database was verified.
	KindMigration Kind = "migration"
	// KindAction: the target changed: an instance started or stopped, the
	// traffic weight or switch moved, a flag was turned off or deleted.
	KindAction Kind = "action"
	// KindStep: the strategy reached a step and asked to go on.
	KindStep Kind = "step"
	// KindMeasurement: one interval was observed and judged.
	KindMeasurement Kind = "measurement"
	// KindPattern: the log-pattern rule found a new error pattern in the
	// new version's logs; the Verdict lists it (verify.PatternFinding).
	KindPattern Kind = "pattern"
	// KindVerdict: an observation window ended with a verdict.
	KindVerdict Kind = "verdict"
	// KindDecision: the decision table chose how to respond to a failure.
	KindDecision Kind = "decision"
	// KindOutcome: the run ended.
	KindOutcome Kind = "outcome"
)

// An Event is one thing that happened during a run. Every phase transition,
// check, migration, change to the target, step, measurement and decision is
// one.
type Event struct {
	Time  time.Time
	Kind  Kind
	Phase Phase
	// Step names the strategy step the event belongs to, if any.
	Step string
	// Weight and Window are, for a step event (KindStep), the step's
	// traffic on the new version in percent and its observation window.
	Weight float64
	Window time.Duration
	// Outcome is, for the outcome event (KindOutcome), how the run ended.
	Outcome Outcome
	// Message describes the event for people.
	Message string
	// Verdict carries the numbers behind a measurement, verdict or decision.
	Verdict *verify.Verdict
	// Err is the error the event reports, if any.
	Err error
}

// An Observer receives the events of a run. The executor delivers events one
// at a time, in order, so an Observer need not be safe for concurrent use.
// ctx is the context of the work that produced the event (carrying, for
// example, its trace), as slog.Handler.Handle receives one; it is not
// cancelled when the run is, so that the events of an undo are delivered
// too. An Observer should return quickly: the executor waits for it.
// Delivery that can be slow belongs off the run's path (see Flusher).
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc turns a function into an Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// A Flusher is an Observer that delivers events off the run's path, such as
// a notifier posting to a chat webhook from a queue of its own. When the
// run ends, after the outcome event, Run calls Flush with a deadline of
// Plan.FlushTimeout (DefaultFlushTimeout when zero) and records what it
// returns in the run's record: nil when every event was delivered, or an
// error saying what was not (events dropped, deliveries that failed). Flush
// must return by ctx's deadline; what it could not deliver by then is lost.
type Flusher interface {
	Observer
	Flush(ctx context.Context) error
}

// DefaultFlushTimeout bounds the final Flush of each Flusher observer when
// Plan.FlushTimeout is zero.
const DefaultFlushTimeout = 10 * time.Second

// SlogObserver returns an Observer that logs each event to l: errors and
// failed verdicts at Warn, everything else at Info.
func SlogObserver(l *slog.Logger) Observer {
	return ObserverFunc(func(ctx context.Context, e Event) {
		level := slog.LevelInfo
		if e.Err != nil || (e.Verdict != nil && e.Verdict.Outcome == verify.Fail) {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("phase", string(e.Phase)), slog.String("kind", string(e.Kind))}
		if e.Step != "" {
			attrs = append(attrs, slog.String("step", e.Step))
		}
		if v := e.Verdict; v != nil {
			attrs = append(attrs, slog.String("outcome", v.Outcome.String()))
			for _, f := range v.Patterns {
				attrs = append(attrs, slog.Group("pattern",
					slog.String("template", f.Template), slog.Float64("new", f.NewCount), slog.Float64("old", f.OldCount),
					slog.Time("first_seen", f.FirstSeen), slog.String("example", f.Example)))
			}
			for _, m := range v.Measurements {
				attrs = append(attrs, slog.Group(m.Metric,
					slog.Float64("value", m.Value), slog.Float64("comparison", m.Baseline), slog.String("against", m.Against),
					slog.Float64("threshold", m.Threshold), slog.Bool("failed", m.Failed)))
			}
		}
		if e.Err != nil {
			attrs = append(attrs, slog.Any("err", e.Err))
		}
		l.LogAttrs(ctx, level, e.Message, attrs...)
	})
}

// Printer returns an Observer that writes a line per event to w for people
// watching a deployment, with times relative to the first event, and the
// numbers behind each verdict indented below it. Write errors are ignored:
// progress output must never stop a deployment.
func Printer(w io.Writer) Observer {
	var (
		mu    sync.Mutex
		start time.Time
	)
	return ObserverFunc(func(_ context.Context, e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == KindMeasurement && e.Verdict != nil && e.Verdict.Outcome == verify.Fail {
			return // the verdict event that follows says the same, with the numbers
		}
		if start.IsZero() {
			start = e.Time
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%8s  %-9s %-11s ", "+"+e.Time.Sub(start).Round(time.Millisecond).String(), e.Phase, e.Kind)
		const indent = 8 + 2 + 10 + 12 // under the message
		if e.Step != "" {
			fmt.Fprintf(&b, "[%s] ", e.Step)
		}
		b.WriteString(e.Message)
		if e.Err != nil && e.Kind != KindOutcome && e.Kind != KindDecision {
			fmt.Fprintf(&b, ": %v", e.Err) // the outcome's error repeats what came before
		}
		b.WriteByte('\n')
		if e.Verdict != nil && e.Kind == KindVerdict {
			for _, m := range e.Verdict.Measurements {
				fmt.Fprintf(&b, "%*s%s\n", indent, "", m)
			}
			for _, f := range e.Verdict.Patterns {
				fmt.Fprintf(&b, "%*s%s\n", indent, "", f)
			}
		}
		io.WriteString(w, b.String())
	})
}
