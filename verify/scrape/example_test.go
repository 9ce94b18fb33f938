package scrape_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

// Two instances on loopback, one per version, instrumented with
// client_golang. The source scrapes them once to open the window; Observe,
// asked about a window that ends after that scrape, scrapes again to close
// it, and counts what each version served.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v1 := demoapp.New(demoapp.Config{Version: "v1", ErrorRate: 0.01, BusinessRate: 0.3, Latency: 100 * time.Microsecond, Seed: 1})
	v2 := demoapp.New(demoapp.Config{Version: "v2", ErrorRate: 0.2, BusinessRate: 0.3, Latency: 100 * time.Microsecond, Seed: 2})
	url1, _, err := demoapp.Serve(ctx, v1)
	if err != nil {
		log.Fatal(err)
	}
	url2, _, err := demoapp.Serve(ctx, v2)
	if err != nil {
		log.Fatal(err)
	}

	src := &scrape.Source{
		Targets: scrape.Static(
			scrape.Target{URL: url1 + "/metrics", Version: "v1"},
			scrape.Target{URL: url2 + "/metrics", Version: "v2"},
		),
		Metrics: promcount.Metrics{Business: "business_events_total"},
	}
	start := time.Now()
	if err := src.Scrape(ctx); err != nil {
		log.Fatal(err)
	}
	send(url1, 300)
	send(url2, 100)
	end := time.Now()

	for _, v := range []string{"v1", "v2"} {
		o, err := src.Observe(ctx, verify.Query{Version: v, Start: start, End: end})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %.0f requests, %.0f errors (%.1f%%), %.0f orders, %.0f in the +Inf latency bucket\n",
			v, o.Requests, o.Errors, 100*o.ErrorRate(), o.Business, o.Latency[len(o.Latency)-1].Count)
	}
	n, failed := v2.Served()
	fmt.Printf("v2 says it served %d requests, %d of them failed\n", n, failed)
	// Output:
	// v1: 300 requests, 5 errors (1.7%), 95 orders, 300 in the +Inf latency bucket
	// v2: 100 requests, 22 errors (22.0%), 23 orders, 100 in the +Inf latency bucket
	// v2 says it served 100 requests, 22 of them failed
}

// send makes n requests to the service at base.
func send(base string, n int) {
	for range n {
		resp, err := http.Get(base + "/checkout")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// A Source wired for a deployment: it scrapes in the background, and the
// executor's Observe calls read from its rounds (scraping now when a
// window ends after the newest).
func ExampleSource_Run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &scrape.Source{
		// A fleet adapter would list its running instances here.
		Targets: scrape.Static(
			scrape.Target{URL: "http://10.0.0.7:8080/metrics", Version: "v41"},
			scrape.Target{URL: "http://10.0.0.8:8080/metrics", Version: "v42"},
		),
		Metrics:   promcount.Metrics{Business: "orders_total", ErrorCodes: "5..|429"},
		Retention: 2 * time.Hour,
	}
	go src.Run(ctx, 15*time.Second)

	var metrics verify.MetricSource = src // deploy.Plan.Metrics, say
	_ = metrics
}
