package backtest_test

import (
	"fmt"
	"strings"

	"github.com/safedeploy/safedeploy/verify/backtest"
)

func Example() {
	// Two minutes before the deploy, then a canary at 5% whose second
	// interval fails 14 of its 52 requests. 12:03 is missing: a gap.
	const file = `# checkout v2, canary at 5%: 2 pre-deploy minutes, then the canary
time,arm,requests,errors,business,le=0.05,le=0.1,le=+Inf
2025-03-01T12:00:00Z,baseline,1000,10,98,510,917,1000
2025-03-01T12:01:00Z,baseline,1012,9,101,522,935,1012
2025-03-01T12:02:00Z,baseline,951,11,93,478,870,951
2025-03-01T12:02:00Z,canary,49,1,5,24,45,49
2025-03-01T12:04:00Z,baseline,948,8,95,470,868,948
2025-03-01T12:04:00Z,canary,52,14,4,25,46,52
`
	d, err := backtest.Read(strings.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := backtest.Replay(d, backtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := res.Baseline
	fmt.Printf("baseline %s–%s: %.0f requests, %.2f%% errors\n", b.Start.Format("15:04"), b.End.Format("15:04"), b.Requests, 100*b.ErrorRate())
	for _, s := range res.Steps {
		fmt.Println(s.Time.Format("15:04"), s.Decision)
	}
	for _, m := range res.Final().Measurements {
		if m.Failed {
			fmt.Println(m)
		}
	}

	// A typo names its line and column.
	_, err = backtest.Read(strings.NewReader("time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,100,x\n"))
	fmt.Println(err)
	// Output:
	// baseline 12:00–12:02: 2012 requests, 0.94% errors
	// 12:02 observe
	// 12:04 rollback
	// error-rate 14.9% vs control 1%: ratio 14.8 in [3.36, 32], above the limit 2× (2%): evidence 1.3e+04 of 88.9, 101 requests over 3m0s: FAILED
	// line 2: column "errors": "x" is not a number
}
