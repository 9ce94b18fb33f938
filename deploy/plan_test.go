package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify"
)

func TestValidateNamesEveryField(t *testing.T) {
	p := &deploy.Plan{
		Version: "v1", Previous: "v1", Environment: "prod",
		Change:   deploy.Change{Risky: true, Disruption: "read-only"},
		Checks:   []deploy.Check{nil},
		Strategy: strategy.Canary{Steps: []float64{5, 1, 120}, StepWindow: -time.Second},
		Verify:   verify.Policy{MaxErrorRatio: 0.5, Interval: -time.Minute},
		Cleanup:  []string{"old"},
	}
	err := p.Validate()
	if !errors.Is(err, deploy.ErrInvalidPlan) {
		t.Fatalf("Validate = %v, want ErrInvalidPlan", err)
	}
	for _, want := range []string{
		`Service = ""`, `Version = "v1": is the same as Previous`, `Environment = "prod"`,
		`Change.Engineer = ""`, `Change.What = ""`, "Tests = nil", "Checks[0] = nil",
		"Strategy.Steps[1] = 1", "Strategy.Steps[2] = 120", "Strategy.StepWindow = -1s", "Target.Fleet = nil",
		"Metrics = nil", "Verify.MaxErrorRatio = 0.5", "Verify.Interval = -1m0s",
		"Flags = nil", `KillSwitch = ""`, "Notifier = nil",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not name %q:\n%v", want, err)
		}
	}

	// Nothing ran: Run refuses the same plan before any phase.
	rep, runErr := deploy.Run(t.Context(), p)
	if !errors.Is(runErr, deploy.ErrInvalidPlan) || rep.Outcome != deploy.Aborted {
		t.Errorf("Run = %q, %v; want aborted on an invalid plan", rep.Outcome, runErr)
	}
}

func TestValidateRollbackPath(t *testing.T) {
	fleet := newFleet(healthy)
	p, _ := newPlan(fleet)
	p.Strategy = strategy.Rolling{}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "no fast rollback path") || !strings.Contains(err.Error(), "strategy.Rolling") {
		t.Fatalf("a rolling plan with no kill switch: Validate = %v, want the refusal to say why", err)
	}
	for name, fix := range map[string]func(){
		"kill switch":       func() { withFlag(t, p) },
		"accepted redeploy": func() { p.AcceptRedeploy = "batch job, nobody waits" },
		"instant strategy":  func() { p.Strategy = strategy.BlueGreen{} },
	} {
		p, _ = newPlan(fleet)
		p.Strategy = strategy.Rolling{}
		fix()
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestValidateProductionNeedsHistory(t *testing.T) {
	p, _ := newPlan(newFleet(healthy))
	p.Environment = deploy.Production
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "Promotions = nil") {
		t.Errorf("Validate = %v, want production without promotion history refused", err)
	}
	p.Change.Trivial = "typo"
	if err := p.Validate(); err != nil {
		t.Errorf("trivial change: Validate = %v", err)
	}
}

// TestDecide checks the decision table row by row.
func TestDecide(t *testing.T) {
	rows := []struct {
		name string
		f    deploy.Failure
		want []deploy.Action
	}{
		{"pre-flight", deploy.Failure{Phase: deploy.PhasePreflight, FlagControlled: true, DataMutated: true}, nil},
		{"migration at fault", deploy.Failure{Phase: deploy.PhaseDatabase}, []deploy.Action{deploy.FixForward}},
		{"migration at fault, flag", deploy.Failure{Phase: deploy.PhaseDatabase, FlagControlled: true}, []deploy.Action{deploy.FixForward}},
		{"data mutated, flag", deploy.Failure{Phase: deploy.PhaseDeploy, DataMutated: true, FlagControlled: true}, []deploy.Action{deploy.FlagOff, deploy.RollForward}},
		{"data mutated", deploy.Failure{Phase: deploy.PhaseDeploy, DataMutated: true}, []deploy.Action{deploy.RollForward}},
		{"flag, no data mutated", deploy.Failure{Phase: deploy.PhaseDeploy, FlagControlled: true}, []deploy.Action{deploy.FlagOff, deploy.RollBack}},
		{"bug, no data mutated", deploy.Failure{Phase: deploy.PhaseDeploy}, []deploy.Action{deploy.RollBack}},
		{"verification failed", deploy.Failure{Phase: deploy.PhaseVerify}, []deploy.Action{deploy.RollBack}},
	}
	for _, r := range rows {
		d := deploy.Decide(r.f)
		if diff := cmp.Diff(r.want, d.Actions); diff != "" {
			t.Errorf("%s: actions mismatch (-want +got):\n%s", r.name, diff)
		}
		if d.Reason == "" {
			t.Errorf("%s: no reason", r.name)
		}
	}
}

func TestRunbookFromPlan(t *testing.T) {
	fleet := newFleet(healthy)
	p, _ := newPlan(fleet)
	withFlag(t, p)
	p.Change.MutatesData = true
	p.Verify.Probes = []verify.Probe{{Name: "checkout", Check: nil}}
	date := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	rb := p.Runbook(date)
	if rb.Date != date || rb.Engineer != "ana" || rb.Changes != "new checkout page" || rb.Why != "conversion" || rb.Expected != "same error rate" {
		t.Errorf("runbook header = %+v", rb)
	}
	verifyText := strings.Join(rb.Verify, "\n")
	for _, want := range []string{"error rate at most 2× the old version's", "2× as many above its P95", "95% family-wise confidence", "checkout", "observe it for 5m0s", "1% of traffic", "rolls back"} {
		if !strings.Contains(verifyText, want) {
			t.Errorf("how to verify lacks %q:\n%s", want, verifyText)
		}
	}
	if !strings.Contains(verifyText, "(a rate below 0.1% counts as 0.1%)") || !strings.Contains(verifyText, "at least 80% of the baseline's") {
		t.Errorf("how to verify lacks the default floor or business limit:\n%s", verifyText)
	}
	// Negative values ask for a real zero: no floor, no fall, no minimum.
	zero := *p
	zero.Verify.MinErrorRate, zero.Verify.MaxBusinessDrop, zero.Verify.MinRequests = -1, -1, -1
	zeroText := strings.Join(zero.Runbook(date).Verify, "\n")
	for _, want := range []string{"else the pre-deploy baseline\n", "at least 100% of the baseline's", "only with 0 requests on the new version"} {
		if !strings.Contains(zeroText, want) {
			t.Errorf("how to verify, with MinErrorRate, MaxBusinessDrop and MinRequests negative, lacks %q:\n%s", want, zeroText)
		}
	}
	if len(rb.Rollback) < 2 || !strings.Contains(rb.Rollback[0], `kill switch "new-checkout"`) || !strings.Contains(rb.Rollback[1], "roll forward") {
		t.Errorf("rollback plan = %q, want the kill switch first, then roll forward (data mutated)", rb.Rollback)
	}
	if rb.RollbackTime != 5*time.Second {
		t.Errorf("rollback time = %s, want a flag flip's 5s", rb.RollbackTime)
	}

	p.KillSwitch, p.Flags = "", nil
	if got := p.Runbook(date).RollbackTime; got != 10*time.Second {
		t.Errorf("canary rollback time = %s, want a traffic change's 10s", got)
	}
	p.Strategy, p.AcceptRedeploy = strategy.Rolling{ReadyTimeout: 3 * time.Minute}, "ok"
	if got := p.Runbook(date).RollbackTime; got != 3*time.Minute {
		t.Errorf("rolling rollback time = %s, want the redeploy bound 3m0s", got)
	}
	if md := p.Runbook(date).Markdown(); !strings.Contains(md, "Runbook: shop v1 → v2") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestRecordAndObservers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fleet := newFleet(broken)
		p, _ := newPlan(fleet)
		var printed, logged bytes.Buffer
		p.Observers = append(p.Observers, deploy.Printer(&printed), deploy.SlogObserver(slog.New(slog.NewJSONHandler(&logged, nil))))
		rep, _ := deploy.Run(t.Context(), p)

		out := printed.String()
		for _, want := range []string{"preflight", "baseline v1", "[canary 1%]", "error-rate", "FAILED", "roll back", "rolled back"} {
			if !strings.Contains(out, want) {
				t.Errorf("progress output lacks %q:\n%s", want, out)
			}
		}
		lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
		if len(lines) != len(rep.Record.Entries) {
			t.Errorf("%d log lines for %d events", len(lines), len(rep.Record.Entries))
		}
		if !strings.Contains(logged.String(), `"level":"WARN"`) || !strings.Contains(logged.String(), `"error-rate":{"value":0.08`) {
			t.Errorf("slog output lacks the failing verdict at WARN:\n%s", logged.String())
		}

		data, err := rep.Record.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var back runbook.Record
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back.Outcome != "rolled_back" || len(back.Entries) != len(rep.Record.Entries) {
			t.Errorf("record JSON round trip: outcome %q, %d entries", back.Outcome, len(back.Entries))
		}
		var numbers int
		for _, e := range back.Entries {
			numbers += len(e.Numbers)
		}
		if numbers == 0 {
			t.Error("record carries no numbers behind its decisions")
		}
		for _, field := range []string{`"ratio"`, `"lower"`, `"upper"`, `"limit"`, `"evidence"`, `"evidence_bar"`} {
			if !strings.Contains(string(data), field) {
				t.Errorf("record JSON lacks the judge's %s", field)
			}
		}
		if md := rep.Record.Markdown(); !strings.Contains(md, "rolled back") || !strings.Contains(md, "error-rate") || !strings.Contains(md, "ratio [interval]") {
			t.Errorf("record markdown:\n%s", md)
		}
	})
}

func TestFilePromotions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "promotions.json")
	a, b := deploy.NewFilePromotions(path), deploy.NewFilePromotions(path)
	want := deploy.Promotion{Service: "shop", Version: "v2", Environment: deploy.Staging, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := a.Record(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	a.Record(t.Context(), deploy.Promotion{Service: "cart", Version: "v9", Environment: deploy.Dev})
	got, err := b.History(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]deploy.Promotion{want}, got); diff != "" {
		t.Errorf("history mismatch (-want +got):\n%s", diff)
	}

	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := b.History(t.Context(), "shop"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: err = %v, want it to name %s", err, path)
	}
	if err := b.Record(t.Context(), want); err == nil {
		t.Error("Record overwrote a corrupt history")
	}
}

// traceKey marks a context the way a tracing library would.
type traceKey struct{}

// traceHandler is a slog.Handler that records the trace found in each
// record's context.
type traceHandler struct {
	slog.Handler
	traces *[]any
}

func (traceHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	*h.traces = append(*h.traces, ctx.Value(traceKey{}))
	return nil
}

func TestObserversGetTheRunsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newPlan(newFleet(healthy))
		var traces []any
		p.Observers = append(p.Observers, deploy.SlogObserver(slog.New(traceHandler{slog.DiscardHandler, &traces})))
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), traceKey{}, "trace-1"))
		defer cancel()
		if _, err := deploy.Run(ctx, p); err != nil {
			t.Fatal(err)
		}
		if len(traces) == 0 {
			t.Fatal("no events logged")
		}
		for i, tr := range traces {
			if tr != "trace-1" {
				t.Fatalf("event %d logged with trace %v, want the caller's trace-1", i, tr)
			}
		}
	})
}

// queued is a Flusher that reports, when flushed, how many events it
// dropped.
type queued struct {
	events  int
	flushed bool
	left    time.Duration
}

func (q *queued) Observe(context.Context, deploy.Event) { q.events++ }

func (q *queued) Flush(ctx context.Context) error {
	q.flushed = true
	d, _ := ctx.Deadline()
	q.left = time.Until(d)
	return errors.New("3 events dropped")
}

func TestFlushersAreFlushedAndRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newPlan(newFleet(healthy))
		q := &queued{}
		p.Observers = append(p.Observers, q)
		p.FlushTimeout = 3 * time.Second
		rep, err := deploy.Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !q.flushed || q.left != 3*time.Second {
			t.Errorf("flushed %v with %v left, want a flush with the plan's 3s", q.flushed, q.left)
		}
		last := rep.Record.Entries[len(rep.Record.Entries)-1]
		if !strings.Contains(last.Message, "did not deliver every event") || last.Error != "3 events dropped" {
			t.Errorf("last record entry %+v, want the flush's drops", last)
		}
		if q.events != len(rep.Record.Entries)-1 {
			t.Errorf("flusher saw %d events; the record has %d besides the flush", q.events, len(rep.Record.Entries)-1)
		}
	})
}
