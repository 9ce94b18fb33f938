package backtesttest_test

import (
	"fmt"

	"github.com/safedeploy/safedeploy/verify/backtest"
	"github.com/safedeploy/safedeploy/verify/backtest/backtesttest"
)

// A simulated canary at 5% of 1,000 requests a minute that fails 5× as
// often as the old version from its 10th minute, replayed through the
// default judge.
func Example() {
	d := backtesttest.Scenario{Seed: 1, Before: 15, Share: 0.05, ErrorRatio: 5, Onset: 10}.Data()
	res, err := backtest.Replay(d, backtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	final := res.Final()
	fmt.Printf("%d intervals, baseline of %.0f requests\n", len(d.Intervals), res.Baseline.Requests)
	fmt.Printf("%s at %s\n", final.Decision, final.Time.Format("15:04"))
	for _, m := range final.Measurements {
		if m.Failed {
			fmt.Printf("%s %.2f%% vs %s %.2f%%\n", m.Metric, 100*m.Value, m.Against, 100*m.Baseline)
		}
	}
	// Output:
	// 75 intervals, baseline of 14996 requests
	// rollback at 12:57
	// error-rate 3.35% vs control 1.04%
}
