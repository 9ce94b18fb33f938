package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/runbook"
)

// A Status is what a service's newest deployment is doing, as its journal
// tells it.
type Status struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Running reports whether the newest run has not finished.
	Running bool `json:"running"`
	// Run is the newest run; nil when the service has none.
	Run *journal.Run `json:"run,omitempty"`
	// Phase is the phase the run last began ("preflight", "deploy",
	// "decide"), and PhaseMessage what its entry says.
	Phase        string `json:"phase,omitempty"`
	PhaseMessage string `json:"phase_message,omitempty"`
	// Step is the last strategy step reached, and StepWeight its weight.
	Step       string  `json:"step,omitempty"`
	StepWeight float64 `json:"step_weight,omitempty"`
	// Traffic is the last change of traffic made: the router's weight on
	// a version, or a switch.
	Traffic *journal.Change `json:"traffic,omitempty"`
	// Verdict is the last window's verdict; Measurement the last
	// interval's, when newer.
	Verdict     *Judged `json:"verdict,omitempty"`
	Measurement *Judged `json:"measurement,omitempty"`
	// Paused reports an operator's pause not yet resumed; PausedBy says
	// who and why.
	Paused   bool   `json:"paused"`
	PausedBy string `json:"paused_by,omitempty"`
	// Lease is the service's lease, live or not; nil when never taken.
	Lease *Lease `json:"lease,omitempty"`
	// Last is the run's newest entry.
	Last *journal.Entry `json:"last,omitempty"`
}

// Judged is a verdict or measurement entry with its numbers.
type Judged struct {
	Time    time.Time        `json:"time"`
	Message string           `json:"message"`
	Numbers []runbook.Number `json:"numbers,omitempty"`
}

// Lease is a lease and whether it was live when read.
type Lease struct {
	journal.Lease
	Live bool `json:"live"`
}

// status reads the status of key's newest run from j.
func status(ctx context.Context, j journal.Reader, service, env string) (Status, error) {
	key := journal.Key(service, env)
	s := Status{Service: service, Environment: env}
	l, err := j.Holder(ctx, key)
	switch {
	case err == nil:
		s.Lease = &Lease{Lease: l, Live: time.Now().Before(l.Expires)}
	case !errors.Is(err, journal.ErrNotFound):
		return s, fmt.Errorf("read the lease of %s: %w", key, err)
	}
	runs, err := j.Runs(ctx, key, 1)
	if err != nil {
		return s, fmt.Errorf("read the runs of %s: %w", key, err)
	}
	if len(runs) == 0 {
		return s, nil
	}
	s.Run = &runs[0]
	s.Running = s.Run.Finished.IsZero()
	es, err := j.Entries(ctx, s.Run.ID, 0)
	if err != nil {
		return s, fmt.Errorf("read run %s: %w", s.Run.ID, err)
	}
	for i, e := range es {
		switch e.Type {
		case journal.TypePhase:
			if ph, err := deploy.PhaseOf(e); err == nil {
				s.Phase = string(ph)
			}
			s.PhaseMessage = e.Message
		case journal.TypeStep:
			if c, err := journal.ChangeOf(e); err == nil && c.Op == "step" {
				s.Step, s.StepWeight = c.Name, c.Weight
			}
		case journal.TypeDone:
			if c, err := journal.ChangeOf(e); err == nil && (c.Op == "route" || c.Op == "switch") {
				s.Traffic = &c
			}
		case journal.TypeVerdict:
			s.Verdict, s.Measurement = judged(e), nil
		case journal.TypeEvent:
			if m := judged(e); m != nil && len(m.Numbers) > 0 {
				s.Measurement = m
			}
		case journal.TypeControl:
			if c, err := journal.ControlOf(e); err == nil {
				switch c.Op {
				case journal.Pause:
					s.Paused, s.PausedBy = true, words(c)
				case journal.Resume:
					s.Paused, s.PausedBy = false, ""
				}
			}
		}
		if i == len(es)-1 {
			s.Last = &es[i]
		}
	}
	return s, nil
}

// judged decodes an entry's numbers, if it has any.
func judged(e journal.Entry) *Judged {
	var ns []runbook.Number
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &ns) != nil {
		return nil // data of another shape: not numbers
	}
	return &Judged{Time: e.Time, Message: e.Message, Numbers: ns}
}

// words says who asked for a control, and why.
func words(c journal.Control) string {
	if c.Why == "" {
		return c.Who
	}
	return fmt.Sprintf("%s: %s", c.Who, c.Why)
}

// print writes s for people.
func (s Status) print(w io.Writer, now time.Time) {
	key := s.Service + " in " + s.Environment
	if s.Run == nil {
		fmt.Fprintf(w, "%s: no deployment in the journal\n", key)
		s.printLease(w, now)
		return
	}
	r := s.Run
	if s.Running {
		fmt.Fprintf(w, "%s: deploying %s → %s by %s, run %s, started %s (%s ago) by %s\n",
			key, r.From, r.To, r.Strategy, r.ID, clock(r.Started), ago(now, r.Started), r.Holder)
	} else {
		fmt.Fprintf(w, "%s: no deployment running; the last, run %s (%s → %s by %s), %s at %s: %s\n",
			key, r.ID, r.From, r.To, r.Strategy, strings.ReplaceAll(r.Outcome, "_", " "), clock(r.Finished), r.Reason)
	}
	if s.Phase != "" || s.PhaseMessage != "" {
		fmt.Fprintf(w, "  phase:        %s (%s)\n", cmp.Or(s.Phase, "?"), s.PhaseMessage)
	}
	if s.Step != "" {
		fmt.Fprintf(w, "  step:         %s (%g%% on %s)\n", s.Step, s.StepWeight, r.To)
	}
	if t := s.Traffic; t != nil {
		if t.Op == "switch" {
			fmt.Fprintf(w, "  traffic:      all on %s (last switch)\n", t.Version)
		} else {
			fmt.Fprintf(w, "  traffic:      %g%% on %s, the rest on %s (last route)\n", t.Weight, t.Version, t.Stable)
		}
	}
	for _, j := range []struct {
		name string
		j    *Judged
	}{{"verdict:     ", s.Verdict}, {"measurement: ", s.Measurement}} {
		if j.j == nil {
			continue
		}
		fmt.Fprintf(w, "  %s %s (%s ago)\n", j.name, j.j.Message, ago(now, j.j.Time))
		for _, n := range j.j.Numbers {
			fmt.Fprintf(w, "                  %s\n", number(n))
		}
	}
	if s.Paused {
		fmt.Fprintf(w, "  paused:       by %s\n", s.PausedBy)
	}
	s.printLease(w, now)
	if s.Last != nil {
		fmt.Fprintf(w, "  last entry:   #%d %s, %s ago: %s\n", s.Last.Seq, s.Last.Type, ago(now, s.Last.Time), s.Last.Message)
	}
}

func (s Status) printLease(w io.Writer, now time.Time) {
	l := s.Lease
	if l == nil {
		return
	}
	state := "expired " + ago(now, l.Expires) + " ago"
	if l.Live {
		state = "live, " + l.Expires.Sub(now).Round(time.Millisecond).String() + " left"
	}
	fmt.Fprintf(w, "  lease:        held by %s, token %d, until %s (%s)\n", l.Holder, l.Token, clock(l.Expires), state)
}

// number formats a verdict's number on one line.
func number(n runbook.Number) string {
	f := func(v float64) string {
		if n.Unit == runbook.UnitSeconds {
			return (time.Duration(v * float64(time.Second))).Round(10 * time.Microsecond).String()
		}
		return fmt.Sprintf("%.3g%%", 100*v)
	}
	s := fmt.Sprintf("%s %s vs baseline %s (limit %s)", n.Metric, f(n.Value), f(n.Baseline), f(n.Threshold))
	if n.Ratio != 0 {
		s += fmt.Sprintf(", ratio %.3g [%.3g, %.3g] vs limit %.3g", n.Ratio, n.Lower, n.Upper, n.Limit)
	}
	s += fmt.Sprintf(", %.0f requests", n.Requests)
	if n.Failed {
		s += ": FAILED"
	}
	return s
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }

func ago(now, t time.Time) string {
	return now.Sub(t).Round(100 * time.Millisecond).String()
}
