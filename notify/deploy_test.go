package notify_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/notify"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// deployWith carries out a short canary deployment in real time (the
// notifier talks to a real server on loopback, which synctest cannot see)
// with the given observers.
func deployWith(t testing.TB, bad bool, flush time.Duration, observers ...deploy.Observer) (*deploy.Report, error) {
	t.Helper()
	ok := strategytest.Behavior{ErrorRate: 0.01, Latency: 40 * time.Millisecond, BusinessRate: 0.05}
	v2 := ok
	if bad {
		v2.ErrorRate = 0.2
	}
	fleet := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: 4, RPS: 20000,
		Behaviors: map[string]strategytest.Behavior{"v1": ok, "v2": v2}})
	return deploy.Run(context.Background(), &deploy.Plan{
		Service: "shop", Version: "v2", Previous: "v1", Environment: deploy.Staging,
		Change:       deploy.Change{Engineer: "ana", What: "a change"},
		Tests:        deploy.CheckFunc(func(context.Context, *deploy.Plan) error { return nil }),
		Strategy:     strategy.Canary{Steps: []float64{25, 100}, StepWindow: 100 * time.Millisecond},
		Target:       strategy.Target{Fleet: fleet, Router: fleet},
		Metrics:      fleet,
		Verify:       verify.Policy{Interval: 50 * time.Millisecond, BaselineWindow: time.Minute},
		Observers:    observers,
		FlushTimeout: flush,
	})
}

// flushEntry returns the record's entry about the notifier's flush.
func flushEntry(t *testing.T, rec runbook.Record) runbook.Entry {
	t.Helper()
	for _, e := range rec.Entries {
		if strings.Contains(e.Message, "*notify.Notifier") {
			return e
		}
	}
	t.Fatalf("no entry about the notifier's flush in the record")
	return runbook.Entry{}
}

// A run with a receiver that answers delivers every notable event, in
// order, and its record says so.
func TestDeploymentNotified(t *testing.T) {
	rc := newReceiver(t, nil)
	n, _ := notify.NewWebhook(rc.URL, notify.Config{})
	rep, err := deployWith(t, true, 0, n)
	if !errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("Run: %v, want rolled back", err)
	}
	var types []string
	for _, p := range rc.payloads(t) {
		types = append(types, p.Type)
	}
	got := strings.Join(types, " ")
	if !strings.HasPrefix(got, notify.TypeStarted+" "+notify.TypeStep) || !strings.HasSuffix(got, notify.TypeVerdictFail+" "+notify.TypeDecision+" io.safedeploy.run.rolled_back") {
		t.Errorf("types %s", got)
	}
	if e := flushEntry(t, rep.Record); e.Error != "" || !strings.Contains(e.Message, "delivered every event") {
		t.Errorf("flush entry %+v", e)
	}
}

// A receiver that hangs, one that fails and one that is slow change
// nothing about the deployment: it completes, and its record says what
// was not delivered. Were Observe to wait for the receiver, the run would
// hang with it.
func TestDeploymentUnchangedByBadReceivers(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	fail := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	slow := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	var ns []deploy.Observer
	for _, rc := range []*receiver{hang, fail, slow} {
		n, _ := notify.NewWebhook(rc.URL, notify.Config{Timeout: time.Hour})
		ns = append(ns, n)
	}
	rep, err := deployWith(t, false, 300*time.Millisecond, ns...)
	if err != nil || rep.Outcome != deploy.Completed {
		t.Fatalf("Run: %v, %v; want completed", rep.Outcome, err)
	}
	var undelivered int
	for _, e := range rep.Record.Entries {
		if strings.Contains(e.Message, "did not deliver every event") && strings.Contains(e.Error, "unsent at the flush deadline") {
			undelivered++
		}
	}
	if undelivered != 3 {
		t.Errorf("%d of 3 notifiers recorded as not delivering everything", undelivered)
	}
}
