package runbook_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
)

func ExampleRunbook_Markdown() {
	rb := runbook.Runbook{
		Service:      "checkout",
		Version:      "v1.5.0",
		Previous:     "v1.4.0",
		Environment:  "production",
		Strategy:     "canary",
		Date:         time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC),
		Engineer:     "Ada Lovelace",
		Changes:      "Adds gift cards at checkout.",
		Verify:       []string{"error rate at most 2× baseline"},
		Rollback:     []string{"Route all traffic to v1.4.0."},
		RollbackTime: 5 * time.Second,
		// Why and Expected are missing, and the page says so.
	}
	fmt.Print(rb.Markdown())
	// Output:
	// # Runbook: checkout v1.4.0 → v1.5.0 (production)
	//
	// ## Date/time
	//
	// 2025-03-01T14:00:00Z
	//
	// ## Engineer
	//
	// Ada Lovelace
	//
	// ## What changes
	//
	// Adds gift cards at checkout.
	//
	// ## Why
	//
	// _(not given)_
	//
	// ## Expected behaviour
	//
	// _(not given)_
	//
	// ## How to verify
	//
	// - error rate at most 2× baseline
	//
	// ## Rollback plan
	//
	// 1. Route all traffic to v1.4.0.
	//
	// ## Time to roll back
	//
	// about 5s (estimated before the deployment)
	//
	// ## Strategy
	//
	// canary
}

func ExampleRecord_Markdown() {
	start := time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)
	rec := &runbook.Record{
		Runbook:  runbook.Runbook{Service: "checkout", Version: "v1.5.0", Previous: "v1.4.0", Environment: "production"},
		Started:  start,
		Finished: start.Add(3 * time.Minute),
		Outcome:  "rolled back",
		Reason:   "error rate above limit",
		Entries: []runbook.Entry{
			{Time: start, Phase: "deploy", Kind: "step", Step: "canary 10%", Message: "10% of traffic on v1.5.0"},
			{
				Time: start.Add(2*time.Minute + 30*time.Second), Phase: "verify", Kind: "verdict", Step: "canary 10%",
				Message: "new version worse than baseline",
				Numbers: []runbook.Number{{
					Metric: "error-rate", Unit: runbook.UnitRate,
					Value: 0.0412, Baseline: 0.01, Threshold: 0.02, Requests: 1200,
					Start: start.Add(30 * time.Second), End: start.Add(2*time.Minute + 30*time.Second),
					Failed: true,
				}},
			},
			{Time: start.Add(3 * time.Minute), Phase: "decide", Kind: "action", Message: "strategy undone: traffic and instances back on v1.4.0"},
		},
	}
	md := rec.Markdown()
	// Leave out the runbook, which reads as Runbook.Markdown shows.
	header, _, _ := strings.Cut(md, "\n## Runbook:")
	_, timeline, _ := strings.Cut(md, "\n## Timeline\n")
	fmt.Print(header, "\n## Timeline\n", timeline)
	// Output:
	// # Record: checkout v1.4.0 → v1.5.0 (production)
	//
	// - Outcome: rolled back
	// - Reason: error rate above limit
	// - Started: 2025-03-01T14:00:00Z
	// - Finished: 2025-03-01T14:03:00Z
	// - Duration: 3m0s
	//
	// ## Timeline
	//
	// **+0s** deploy · step · canary 10%: 10% of traffic on v1.5.0
	//
	// **+2m30s** verify · verdict · canary 10%: new version worse than baseline
	//
	// | metric | value | baseline | threshold | requests | window | result |
	// | --- | ---: | ---: | ---: | ---: | ---: | --- |
	// | error-rate | 4.12% | 1.00% | 2.00% | 1200 | 2m0s | FAILED |
	//
	// **+3m0s** decide · action: strategy undone: traffic and instances back on v1.4.0
}
