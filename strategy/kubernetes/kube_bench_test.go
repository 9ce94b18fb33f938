package kubernetes

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
	"github.com/safedeploy/safedeploy/strategy"
)

// BenchmarkKubeCanary runs a canary by HTTPRoute weights (10%, 50%,
// 100%) over a fleet of 10 and of 100 pods on kwok, with a gate that
// passes at once, and reports per step the wall time the adapter and the
// cluster took to get the step ready (every step's time beyond its
// observation window: starting the step's pods, waiting for them to be
// Ready, writing the weights) and the API requests it made. Run it once:
//
//	go test -run '^$' -bench BenchmarkKubeCanary -benchtime 1x ./strategy/kubernetes
func BenchmarkKubeCanary(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			l := newLive(b, kubetest.Shared(b), nil)
			f := l.fleet(b)
			startAll(b, f, "v1", n)
			target := strategy.Target{Fleet: f, Router: l.router(b)}
			from, to := "v1", "v2"
			var steps int
			var took time.Duration
			var requests int64
			b.ResetTimer()
			for range b.N {
				last, lastReq := time.Now(), l.requests.Load()
				gate := strategy.GateFunc(func(ctx context.Context, s strategy.Step) error {
					now, req := time.Now(), l.requests.Load()
					b.Logf("%d pods, %s: %s, %d API requests", n, s.Name, now.Sub(last).Round(time.Millisecond), req-lastReq)
					steps++
					took += now.Sub(last)
					requests += req - lastReq
					last, lastReq = time.Now(), l.requests.Load()
					return nil
				})
				c := strategy.Canary{Steps: []float64{10, 50}, ReadyTimeout: 10 * time.Minute}
				if _, err := c.Deploy(b.Context(), target, strategy.Release{From: from, To: to}, gate); err != nil {
					b.Fatal(err)
				}
				from, to = to, from
			}
			b.StopTimer()
			b.ReportMetric(took.Seconds()/float64(steps), "s/step")
			b.ReportMetric(float64(requests)/float64(steps), "requests/step")
		})
	}
}
