package strategytest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/strategy/strategytest"
	"github.com/safedeploy/safedeploy/verify"
)

// BenchmarkFleet measures one Start and one Stop, and one Observe over the
// last minute, on fleets of 100 and 10,000 instances: each should cost the
// same whatever the size.
//
//	go test -run '^$' -bench BenchmarkFleet -benchmem ./strategy/strategytest/
func BenchmarkFleet(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("StartStop/n=%d", n), func(b *testing.B) {
			f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: n, RPS: 100})
			for b.Loop() {
				id, err := f.Start(ctx, "v2")
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Stop(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Observe/n=%d", n), func(b *testing.B) {
			// A history of n changes, as a deployment of n instances
			// leaves, then a query over the last minute.
			f := strategytest.NewFleet(strategytest.Config{Version: "v1", Instances: n, RPS: 100})
			for range n {
				if _, err := f.Start(ctx, "v2"); err != nil {
					b.Fatal(err)
				}
			}
			q := verify.Query{Version: "v2", Start: time.Now().Add(-time.Minute), End: time.Now().Add(time.Minute)}
			for b.Loop() {
				if _, err := f.Observe(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
