//go:build unix

package strategy_test

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/strategy/strategytest"
)

// BenchmarkDeploy runs each built-in strategy to completion on a simulated
// fleet of 100, 1,000 and 10,000 instances that start at once, with a gate
// that passes every step at once: what is measured is the strategy and the
// simulated fleet, not waiting. Making the fleet is not timed.
//
// Besides ns/op, B/op and allocs/op it reports, per instance of the fleet,
// wall time (ns/inst), CPU time of the whole process over the timed part,
// garbage collection included (cpu-ns/inst), and allocations (allocs/inst,
// B/inst).
//
//	uptime; go test -run '^$' -bench BenchmarkDeploy -benchmem ./strategy/
//
// On the 2-core development machine, shared, at a load average of 10–11
// (2026-12-03; -benchtime 10x at 1,000 instances, 5x at 10,000): at 10,000
// instances direct, rolling and blue/green cost 6.6, 5.9 and 3.2 µs of CPU,
// 8.0, 7.8 and 6.0 allocations and 1.4, 1.1 and 0.6 KB per instance; at
// 1,000, direct and rolling 3.1–3.7 and 3.0–3.5 µs, 8.3 and 8.6
// allocations, 1.1 and 0.9 KB. The same benchmark built from commit
// e5bf3c1 (before the concurrency bound and the linear strategytest.Fleet)
// and run alternately with it in the same session: 131–176 and 89–105 µs,
// 21.5 and 21.4 allocations, 2.2 and 2.1 KB per instance at 1,000, most of
// the time in the then quadratic test fleet.
func BenchmarkDeploy(b *testing.B) {
	strategies := []struct {
		name   string
		s      strategy.Strategy
		target func(f *strategytest.Fleet) strategy.Target
	}{
		{"direct", strategy.Direct{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }},
		{"rolling", strategy.Rolling{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }},
		{"blue-green", strategy.BlueGreen{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Switch: f} }},
		{"canary/router", strategy.Canary{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f, Router: f} }},
		{"canary/count", strategy.Canary{}, func(f *strategytest.Fleet) strategy.Target { return strategy.Target{Fleet: f} }},
	}
	pass := strategy.GateFunc(func(context.Context, strategy.Step) error { return nil })
	for _, st := range strategies {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/n=%d", st.name, n), func(b *testing.B) {
				var cpu time.Duration
				var mallocs, bytes uint64
				var before, after runtime.MemStats
				for range b.N {
					b.StopTimer()
					f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: n, RPS: 100})
					target := st.target(f)
					runtime.ReadMemStats(&before)
					c0 := cpuTime(b)
					b.StartTimer()
					_, err := st.s.Deploy(b.Context(), target, strategy.Release{From: "v1", To: "v2"}, pass)
					b.StopTimer()
					cpu += cpuTime(b) - c0
					runtime.ReadMemStats(&after)
					mallocs += after.Mallocs - before.Mallocs
					bytes += after.TotalAlloc - before.TotalAlloc
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				per := float64(b.N * n)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/inst")
				b.ReportMetric(float64(cpu.Nanoseconds())/per, "cpu-ns/inst")
				b.ReportMetric(float64(mallocs)/per, "allocs/inst")
				b.ReportMetric(float64(bytes)/per, "B/inst")
			})
		}
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
