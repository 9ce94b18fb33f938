package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/notify"
	"github.com/safedeploy/safedeploy/verify"
)

// receiver is a local HTTP server that records what it is sent and answers
// as its handler says.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	types  []string // Content-Type of each request
	hits   atomic.Int64
}

func newReceiver(t testing.TB, answer func(n int64, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if answer != nil {
			answer(n, w, r)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.types = append(rc.types, r.Header.Get("Content-Type"))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) payloads(t *testing.T) []notify.Payload {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []notify.Payload
	for _, b := range rc.bodies {
		var p notify.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
		out = append(out, p)
	}
	return out
}

var (
	t0      = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	failing = &verify.Verdict{Outcome: verify.Fail, Reason: "error-rate 3% vs 1%", Measurements: []verify.Measurement{
		{Metric: "error-rate", Unit: verify.UnitRate, Value: 0.03, Baseline: 0.01, Threshold: 0.02, Requests: 6000, Failed: true,
			Ratio: 3, Lower: 2, Upper: 4.76, Limit: 2, Evidence: 1170, EvidenceBar: 111}}}
	// run is the notable events of a rolled-back run, with others between.
	run = []deploy.Event{
		{Time: t0, Kind: deploy.KindPhase, Phase: deploy.PhasePreflight, Message: "pre-flight for shop v1 → v2 in staging"},
		{Time: t0, Kind: deploy.KindCheck, Phase: deploy.PhasePreflight, Message: "tests passed"},
		{Time: t0, Kind: deploy.KindPhase, Phase: deploy.PhaseDeploy, Message: "deploying v2 by canary"},
		{Time: t0, Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "canary 5%", Message: "5% on v2; observing for 5m0s"},
		{Time: t0, Kind: deploy.KindMeasurement, Phase: deploy.PhaseVerify, Step: "canary 5%", Message: "continue"},
		{Time: t0, Kind: deploy.KindVerdict, Phase: deploy.PhaseVerify, Step: "canary 5%", Message: "fail: error-rate 3% vs 1%", Verdict: failing},
		{Time: t0, Kind: deploy.KindDecision, Phase: deploy.PhaseDecide, Message: "turn the kill switch off, then roll back: no data mutated", Verdict: failing},
		{Time: t0, Kind: deploy.KindAction, Phase: deploy.PhaseDecide, Message: "routed 0% of traffic to v2"},
		{Time: t0, Kind: deploy.KindOutcome, Phase: deploy.PhaseDecide, Message: "rolled back: no data mutated", Verdict: failing, Err: errors.New("deploy: rolled back")},
	}
)

func observeAll(n *notify.Notifier, events []deploy.Event) {
	for _, e := range events {
		n.Observe(context.Background(), e)
	}
}

func TestWebhookPayload(t *testing.T) {
	rc := newReceiver(t, nil)
	n, err := notify.NewWebhook(rc.URL, notify.Config{Source: "safedeploy/shop/staging"})
	if err != nil {
		t.Fatal(err)
	}
	observeAll(n, run)
	if err := n.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	ps := rc.payloads(t)
	var types []string
	for _, p := range ps {
		types = append(types, p.Type)
	}
	want := []string{notify.TypeStarted, notify.TypeStep, notify.TypeVerdictFail, notify.TypeDecision, "io.safedeploy.run.rolled_back"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("types %v, want %v", types, want)
	}
	for i, p := range ps {
		if p.SpecVersion != "1.0" || p.Source != "safedeploy/shop/staging" || p.DataSchema != "urn:safedeploy:notify:1" || p.Data.Version != notify.PayloadVersion || p.Data.Seq != i+1 || p.ID == "" || !p.Time.Equal(t0) {
			t.Errorf("payload %d: %+v", i, p)
		}
		if rc.types[i] != "application/cloudevents+json" {
			t.Errorf("Content-Type %q", rc.types[i])
		}
	}
	if v := ps[2].Data.Verdict; v == nil || v.Outcome != "fail" || len(v.Numbers) != 1 || v.Numbers[0].Evidence != 1170 || !v.Numbers[0].Failed {
		t.Errorf("failing verdict's numbers: %+v", v)
	}
	if got := ps[3].Data.Actions; len(got) != 2 || got[0] != "turn the kill switch off" || got[1] != "roll back" {
		t.Errorf("decision's actions %q", got)
	}
	if ps[4].Data.Outcome != "rolled_back" || ps[4].Data.Error != "deploy: rolled back" {
		t.Errorf("outcome: %+v", ps[4].Data)
	}
	if s := n.Stats(); s.Queued != 5 || s.Sent != 5 || s.Dropped+s.Failed+s.Unsent != 0 {
		t.Errorf("Stats %+v", s)
	}
}

func TestSlackBlocks(t *testing.T) {
	rc := newReceiver(t, nil)
	n, err := notify.NewSlack(rc.URL, notify.Config{})
	if err != nil {
		t.Fatal(err)
	}
	evil := deploy.Event{Time: t0, Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "s", Message: "<!channel> & " + strings.Repeat("x", 4000)}
	observeAll(n, append(append([]deploy.Event{}, run...), evil))
	if err := n.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 6 {
		t.Fatalf("%d messages, want 6", len(rc.bodies))
	}
	type block struct {
		Type string `json:"type"`
		Text *struct {
			Type, Text string
		} `json:"text"`
		Fields []struct{ Type, Text string } `json:"fields"`
	}
	var msgs []struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}
	for _, b := range rc.bodies {
		var m struct {
			Text   string  `json:"text"`
			Blocks []block `json:"blocks"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if h := msgs[0].Blocks[0]; h.Type != "header" || !strings.Contains(h.Text.Text, "Deployment started") {
		t.Errorf("first message's header: %+v", h)
	}
	fail := msgs[2]
	if len(fail.Blocks) < 3 || len(fail.Blocks[2].Fields) != 1 || !strings.Contains(fail.Blocks[2].Fields[0].Text, "*error-rate* ❌ 3% vs 1% (limit 2%)") {
		t.Errorf("failing verdict's numbers: %s", rc.bodies[2])
	}
	if h := msgs[4].Blocks[0].Text.Text; !strings.Contains(h, "Rolled back") {
		t.Errorf("outcome header %q", h)
	}
	last := msgs[5].Blocks[1].Text.Text
	if strings.Contains(last, "<!channel>") || !strings.HasPrefix(last, "&lt;!channel&gt; &amp; ") || len([]rune(last)) != 3000 {
		t.Errorf("section text not escaped and clipped to 3000: %.60q… (%d)", last, len([]rune(last)))
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		url  string
		c    notify.Config
		want string
	}{
		{"ftp://x", notify.Config{}, "absolute http or https"},
		{"/hook", notify.Config{}, "absolute http or https"},
		{"http://127.0.0.1/", notify.Config{Timeout: -1}, "Config.Timeout"},
		{"http://127.0.0.1/", notify.Config{QueueSize: -1}, "Config.QueueSize"},
	} {
		if _, err := notify.NewWebhook(tc.url, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewWebhook(%q, %+v) = %v, want an error naming %q", tc.url, tc.c, err, tc.want)
		}
	}
}

// 5xx and 429 answers are retried, honouring Retry-After.
func TestRetries(t *testing.T) {
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	n, _ := notify.NewWebhook(rc.URL, notify.Config{})
	observeAll(n, run[:1])
	if err := n.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if s := n.Stats(); s.Sent != 1 || s.Retries != 2 || rc.hits.Load() != 3 {
		t.Errorf("Stats %+v after %d requests; want 1 sent after 2 retries, 3 requests", s, rc.hits.Load())
	}
}

// A negative RetryFor asks for no retries: a 5xx answer fails the message
// at once.
func TestNoRetries(t *testing.T) {
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	n, err := notify.NewWebhook(rc.URL, notify.Config{RetryFor: -1})
	if err != nil {
		t.Fatalf("NewWebhook with RetryFor -1: %v, want a Notifier that does not retry", err)
	}
	observeAll(n, run[:1])
	err = n.Flush(context.Background())
	var de *notify.DeliveryError
	if !errors.As(err, &de) || de.Failed != 1 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Flush = %v, want one failed message naming the 503", err)
	}
	if s := n.Stats(); rc.hits.Load() != 1 || s.Retries != 0 {
		t.Errorf("%d requests, %d retries; want 1 request and no retry", rc.hits.Load(), s.Retries)
	}
}

// A 4xx answer other than 429 is not retried; Flush reports it.
func TestRefusedNotRetried(t *testing.T) {
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	})
	n, _ := notify.NewWebhook(rc.URL, notify.Config{})
	observeAll(n, run[:1])
	err := n.Flush(context.Background())
	var de *notify.DeliveryError
	if !errors.Is(err, notify.ErrUndelivered) || !errors.As(err, &de) || de.Failed != 1 || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Flush = %v, want one failed message naming the 404", err)
	}
	if rc.hits.Load() != 1 {
		t.Errorf("%d requests, want 1", rc.hits.Load())
	}
	if err := n.Flush(context.Background()); err != nil {
		t.Errorf("second Flush = %v, want nil: failures are reported once", err)
	}
}

// A receiver that hangs: each request is abandoned at the timeout and
// retried until RetryFor has passed.
func TestTimeoutPerRequest(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	n, _ := notify.NewWebhook(rc.URL, notify.Config{Timeout: 50 * time.Millisecond, RetryFor: time.Second})
	observeAll(n, run[:1])
	err := n.Flush(context.Background())
	var de *notify.DeliveryError
	if !errors.As(err, &de) || de.Failed != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want one message failed on its request timeout", err)
	}
	if rc.hits.Load() < 2 {
		t.Errorf("%d requests, want the message retried", rc.hits.Load())
	}
}

// Observe never waits for the receiver: with a receiver that hangs, a
// hundred events are observed at once, the queue keeps the newest, and
// Flush returns at its deadline with what was lost.
func TestHangingReceiverNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	n, _ := notify.NewWebhook(rc.URL, notify.Config{QueueSize: 10, Timeout: time.Hour})
	step := deploy.Event{Time: t0, Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "s", Message: "1% on v2"}
	for range 100 {
		n.Observe(context.Background(), step) // would hang the test if it waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := n.Flush(ctx)
	var de *notify.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Flush = %v, want a *DeliveryError", err)
	}
	// The queue holds 10: the rest were pushed out of it, but for the
	// one the sender may have taken to the receiver before it filled. The
	// ones left, and that one, are unsent.
	if de.Dropped+de.Unsent != 100 || de.Dropped < 89 || de.Failed != 0 {
		t.Errorf("Flush: %+v, want 89 or 90 dropped and the rest unsent", de)
	}
	if s := n.Stats(); s.Queued != 100 || s.Sent != 0 {
		t.Errorf("Stats %+v", s)
	}
}

// Flush's deadline cuts a retry short: the error is the failure it was
// retrying, not the cancellation.
func TestFlushDuringRetryKeepsTheFailure(t *testing.T) {
	retrying := make(chan struct{})
	rc := newReceiver(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		if n == 2 {
			close(retrying)
		}
		<-r.Context().Done()
	})
	n, _ := notify.NewWebhook(rc.URL, notify.Config{Timeout: time.Hour, RetryFor: time.Hour})
	observeAll(n, run[:1])
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-retrying
		cancel()
	}()
	err := n.Flush(ctx)
	var de *notify.DeliveryError
	if !errors.As(err, &de) || de.Unsent != 1 || de.Last == nil || !strings.Contains(de.Last.Error(), "503 Service Unavailable: overloaded") {
		t.Fatalf("Flush = %v, want 1 unsent, and the 503 it was retrying as the last error", err)
	}
}

// A receiver that is down: nothing listens on its port.
func TestReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n, _ := notify.NewWebhook("http://"+addr+"/hook", notify.Config{})
	observeAll(n, run)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = n.Flush(ctx)
	var de *notify.DeliveryError
	if !errors.As(err, &de) || de.Unsent != 5 || de.Last == nil || !strings.Contains(de.Last.Error(), "refused") {
		t.Fatalf("Flush = %v, want 5 unsent after connections were refused", err)
	}
}
