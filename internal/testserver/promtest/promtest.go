// Package promtest runs a real Prometheus server for integration tests: the
// prometheus binary (Debian package prometheus), listening only on
// 127.0.0.1, with its own configuration and storage in the test's
// temporary directory, and stopped — its whole process group — when the
// test ends.
//
// A test that calls Start is skipped when the binary is missing, unless
// the environment variable SAFEDEPLOY_INTEGRATION is 1 (as in CI, which
// installs the package): then it fails.
package promtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"

	"github.com/prometheus/common/model"
)

// Require is the environment variable that, set to 1, makes a missing
// prometheus binary fail the test instead of skipping it.
const Require = proctest.Require

// Config says what the server scrapes.
type Config struct {
	// Targets are the host:port addresses of the /metrics endpoints to
	// scrape, all in one job.
	Targets []string
	// Job is the scrape job's name, its "job" label. Empty means "test".
	Job string
	// Interval is the scrape interval (and timeout). Zero means 250ms.
	Interval time.Duration
}

// A Server is a running Prometheus.
type Server struct {
	// URL is its base URL, http://127.0.0.1:port.
	URL string
	// Config is what it scrapes, defaults filled in.
	Config Config

	client *http.Client
}

// Binary returns the path of the prometheus binary: the one in PATH, or
// /usr/bin/prometheus.
func Binary() (string, error) {
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(debianBinary); err != nil {
		return "", fmt.Errorf("no prometheus in PATH nor at %s", debianBinary)
	}
	return debianBinary, nil
}

// debianBinary is where the Debian package installs prometheus.
var debianBinary = "/usr/bin/prometheus"

// Start starts a Prometheus scraping c.Targets and returns once it is
// ready, or fails t. t.Cleanup stops it: SIGTERM to its process group,
// SIGKILL if it has not exited 10s later. If the test has failed by then,
// the end of Prometheus's log is logged.
func Start(t testing.TB, c Config) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := fmt.Sprintf("promtest: %v; install the Debian package prometheus (apt-get install prometheus) to run this integration test", err)
		proctest.Missing(t, msg)
	}
	c.Job = cmp.Or(c.Job, "test")
	c.Interval = cmp.Or(c.Interval, 250*time.Millisecond)
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(configYAML(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port is free when chosen, but may be taken before Prometheus
	// binds it: try again on another.
	for attempt := 1; ; attempt++ {
		s, retry, err := start(t, bin, dir, config, c)
		switch {
		case err == nil:
			return s
		case retry && attempt < 3:
			t.Logf("promtest: %v; trying another port", err)
		default:
			t.Fatalf("promtest: %v", err)
		}
	}
}

// start runs the binary once; retry says whether another port may help.
func start(t testing.TB, bin, dir, config string, c Config) (s *Server, retry bool, err error) {
	port, err := proctest.FreePort()
	if err != nil {
		return nil, false, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", port))
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.console.templates="+filepath.Join(dir, "consoles"),
		"--web.console.libraries="+filepath.Join(dir, "console_libraries"),
		"--log.level=info",
	)
	cmd.Dir = dir
	proc, err := proctest.StartProcess(cmd, logPath)
	if err != nil {
		return nil, false, err
	}
	stop := func() { proc.Stop(10 * time.Second) } // SIGTERM, then SIGKILL; once
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("promtest: the end of Prometheus's log (%s):\n%s", logPath, proctest.Tail(logPath, 40))
		}
	})

	s = &Server{URL: "http://" + addr, Config: c, client: &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}}
	t.Cleanup(s.client.CloseIdleConnections)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-proc.Done():
			// Exited's error carries the end of the log.
			retry := strings.Contains(proctest.Tail(logPath, 20), "address already in use")
			return nil, retry, fmt.Errorf("prometheus exited at start: %w", proc.Exited())
		case <-deadline:
			stop()
			return nil, false, fmt.Errorf("prometheus not ready after 30s:\n%s", proctest.Tail(logPath, 20))
		case <-tick.C:
		}
		resp, err := s.client.Get(s.URL + "/-/ready")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return s, false, nil
		}
	}
}

func configYAML(c Config) string {
	var targets []string
	for _, t := range c.Targets {
		targets = append(targets, strconv.Quote(t))
	}
	d := model.Duration(c.Interval).String()
	return fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%s]
`, d, d, strconv.Quote(c.Job), strings.Join(targets, ", "))
}

// Query evaluates promql as an instant query now and returns its
// instant vector. It is for synchronising tests with the server, not for
// testing code that reads it.
func (s *Server) Query(ctx context.Context, promql string) (model.Vector, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?"+url.Values{"query": {promql}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     model.Vector `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %s: HTTP %d: %w", promql, resp.StatusCode, err)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: HTTP %d, status %s, result type %s: %s", promql, resp.StatusCode, r.Status, r.Data.ResultType, r.Error)
	}
	return r.Data.Result, nil
}

// WaitScrape waits until every target has been scraped successfully
// after after, and the samples are queryable. A scrape's timestamp is when
// it started, which Prometheus may move by up to 2ms to align it with the
// interval; WaitScrape waits for one stamped more than 2ms after after, so
// that it started after after. Such a scrape of a target whose metrics
// last changed before after holds their final values.
func (s *Server) WaitScrape(ctx context.Context, after time.Time) error {
	after = after.Add(2 * time.Millisecond) // scrape.ScrapeTimestampTolerance
	// timestamp() gives a sample's own time only when applied to a
	// selector: timestamp(up == 1) would be the evaluation time.
	up := fmt.Sprintf("up{job=%s}", strconv.Quote(s.Config.Job))
	promql := fmt.Sprintf("timestamp(%s) and %s == 1", up, up)
	tick := time.NewTicker(s.Config.Interval / 5)
	defer tick.Stop()
	var last error
	for {
		v, err := s.Query(ctx, promql)
		if err == nil {
			n := 0
			for _, sample := range v {
				if float64(sample.Value) > float64(after.UnixMilli())/1000 {
					n++
				}
			}
			if n == len(s.Config.Targets) {
				return nil
			}
			err = fmt.Errorf("%d of %d targets scraped since %s", n, len(s.Config.Targets), after.Format(time.RFC3339Nano))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("promtest: waiting for a scrape: %w (%w)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}
