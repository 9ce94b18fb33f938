package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/runbook"
)

func ExampleWrite() {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := &runbook.Record{
		Runbook: runbook.Runbook{Service: "shop", Version: "v2", Previous: "v1", Environment: "staging", Strategy: "canary"},
		Started: start, Finished: start.Add(6 * time.Minute),
		Outcome: "rolled_back", Reason: "v2 failed 3% of requests against v1's 1%",
		Entries: []runbook.Entry{
			{Time: start, Phase: "deploy", Kind: "step", Step: "canary 5%", Message: "5% on v2; observing for 5m0s"},
			{Time: start.Add(time.Minute), Phase: "verify", Kind: "measurement", Step: "canary 5%", Message: "fail: error-rate 3% vs baseline 1%",
				Numbers: []runbook.Number{{Metric: "error-rate", Unit: runbook.UnitRate, Value: 0.03, Baseline: 0.01, Threshold: 0.02,
					Requests: 6000, Start: start, End: start.Add(time.Minute), Failed: true,
					Ratio: 3, Lower: 2, Upper: 4.8, Limit: 2, Evidence: 1170, EvidenceBar: 111}}},
		},
	}
	f, err := os.CreateTemp("", "run-*.html")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := report.Write(f, rec); err != nil {
		fmt.Println(err)
		return
	}
	page, _ := os.ReadFile(f.Name())
	title := string(page[strings.Index(string(page), "<title>"):strings.Index(string(page), "</title>")])
	fmt.Println(strings.TrimPrefix(title, "<title>"))
	fmt.Println(strings.Count(string(page), `<svg class="chart"`), "charts")
	// Output:
	// Rolled back: shop v1 → v2 (staging)
	// 3 charts
}

func ExampleWriteFile() {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := &runbook.Record{
		Runbook: runbook.Runbook{Service: "shop", Version: "v2", Previous: "v1", Environment: "staging", Strategy: "canary"},
		Started: start, Finished: start.Add(20 * time.Minute),
		Outcome: "completed",
	}
	dir, err := os.MkdirTemp("", "report")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.html")
	n, err := report.WriteFile(path, rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	page, _ := os.ReadFile(path)
	fmt.Println(n == len(page), strings.Contains(string(page), "<title>Completed: shop v1 → v2 (staging)</title>"))
	// Output:
	// true true
}
