package fleetdeploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/fleetdeploy"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
	"github.com/safedeploy/safedeploy/verify"
)

// startFleet runs the demo's fleet, 4 instances of v1, behind a fleethttp
// server on 127.0.0.1 for the test, in this process: it outlives the
// deployers the test starts and kills.
func startFleet(t testing.TB) (*fleethttp.Server, string) {
	t.Helper()
	s, url, stop, err := serveFleet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s, url
}

// serveFleet is startFleet outside a test: stop stops it.
func serveFleet() (s *fleethttp.Server, url string, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	f, err := loopback.New(ctx, loopback.Config{Version: "v1", Instances: 4, Startup: 20 * time.Millisecond})
	if err != nil {
		cancel()
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, "", nil, err
	}
	s = fleethttp.NewServer(f)
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	return s, "http://" + ln.Addr().String(), func() { srv.Close(); cancel() }, nil
}

// synthetic is a deterministic metric source for the crash tests: every
// version serves its share of the fleet's traffic, as the fleet reports it
// when asked, out of rps requests per second, failing at its error rate.
// Real scrapes would need real load and real time for every case.
type synthetic struct {
	fleet *fleethttp.Client
	rps   float64
	rate  map[string]float64 // error rate by version

	mu    sync.Mutex
	share map[string]float64 // the last traffic seen
}

func newSynthetic(fleet *fleethttp.Client, bad bool) *synthetic {
	return &synthetic{fleet: fleet, rps: 20000, rate: map[string]float64{"v1": 0.005, "v2": fleetdeploy.V2(bad, false).ErrorRate}}
}

// Observe implements verify.MetricSource.
func (s *synthetic) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	st, err := s.fleet.State(ctx)
	if err != nil {
		return verify.Observation{}, err
	}
	share := st.Traffic[q.Version] / 100
	if share == 0 {
		return verify.Observation{}, fmt.Errorf("%s: %w", q.Version, verify.ErrNoData)
	}
	req := s.rps * q.End.Sub(q.Start).Seconds() * share
	errs := req * s.rate[q.Version]
	return verify.Observation{Requests: req, Errors: errs, Business: 0.05 * (req - errs)}, nil
}
