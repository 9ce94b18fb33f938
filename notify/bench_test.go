package notify_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/notify"
)

// BenchmarkDeploymentSlowReceiver measures what a notifier whose receiver
// takes 2 s per request adds to a short canary deployment (two steps of
// 100 ms): run-s is the whole of deploy.Run, to-outcome-s the time until
// the outcome (the deployment itself), flush-s the final flush. Run with
// -benchtime=3x: each run with the receiver takes several seconds.
func BenchmarkDeploymentSlowReceiver(b *testing.B) {
	slow := func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	for _, bc := range []struct {
		name     string
		notifier bool
	}{{"none", false}, {"receiver-2s", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var observers []deploy.Observer
			if bc.notifier {
				rc := newReceiver(b, slow)
				n, err := notify.NewWebhook(rc.URL, notify.Config{})
				if err != nil {
					b.Fatal(err)
				}
				observers = append(observers, n)
			}
			var toOutcome, flush, runs time.Duration
			for b.Loop() {
				start := time.Now()
				rep, err := deployWith(b, false, 0, observers...)
				if err != nil {
					b.Fatal(err)
				}
				runs += time.Since(start)
				rec := rep.Record
				var outcome time.Time
				for _, e := range rec.Entries {
					if e.Kind == "outcome" && outcome.IsZero() {
						outcome = e.Time
					}
				}
				toOutcome += outcome.Sub(rec.Started)
				flush += rec.Finished.Sub(outcome)
			}
			n := time.Duration(b.N)
			b.ReportMetric((runs / n).Seconds(), "run-s")
			b.ReportMetric((toOutcome / n).Seconds(), "to-outcome-s")
			b.ReportMetric((flush / n).Seconds(), "flush-s")
		})
	}
}
