// Package lokitest runs a real Grafana Loki for integration tests: the
// single binary (cmd/loki), built from the Go module proxy by
// build-loki.sh into a cache, listening only on 127.0.0.1, with its
// configuration and storage in the test's temporary directory, and stopped
// — its whole process group — when the test ends. Loki is AGPL-3.0: it runs
// as a separate process, and nothing here imports it.
//
// A test that calls Start is skipped when the binary is missing, unless
// the environment variable SAFEDEPLOY_INTEGRATION is 1 (as in CI, which
// builds it): then it fails.
package lokitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"
)

// Require is the environment variable that, set to 1, makes a missing loki
// binary fail the test instead of skipping it.
const Require = proctest.Require

// Binary names the environment variable that may give the loki binary's
// path, overriding the cache.
const Binary = "SAFEDEPLOY_LOKI"

// Version is the Loki version build-loki.sh builds by default, and whose
// cached binary Start looks for.
const Version = "v3.7.8"

// readyTimeout bounds Loki's start: about 17 s on an idle machine, more on
// a loaded one.
const readyTimeout = 3 * time.Minute

// Path returns where the loki binary is: $SAFEDEPLOY_LOKI, or the cache
// build-loki.sh fills, ${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/loki-VERSION/loki.
// It fails when there is no executable file there.
func Path() (string, error) {
	p := os.Getenv(Binary)
	if p == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no %s, no XDG_CACHE_HOME and no home directory: %w", Binary, err)
			}
			cache = filepath.Join(home, ".cache")
		}
		p = filepath.Join(cache, "safedeploy", "loki-"+Version, "loki")
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("no loki binary at %s", p)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// A Server is a running Loki.
type Server struct {
	// URL is its base URL, http://127.0.0.1:port.
	URL    string
	client *http.Client
}

// Start starts a Loki and returns once it is ready, or fails t. t.Cleanup
// stops it: SIGTERM to its process group, SIGKILL if it has not exited 10s
// later. If the test has failed by then, the end of Loki's log is logged.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Path()
	if err != nil {
		msg := fmt.Sprintf("lokitest: %v; run `bash internal/testserver/lokitest/build-loki.sh` (builds Loki %s from the Go module proxy into the cache, several minutes) or set %s to run this integration test", err, Version, Binary)
		proctest.Missing(t, msg)
	}
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		s, retry, err := start(t, bin, dir, attempt)
		switch {
		case err == nil:
			return s
		case retry && attempt < 3:
			t.Logf("lokitest: %v; trying other ports", err)
		default:
			t.Fatalf("lokitest: %v", err)
		}
	}
}

// start runs the binary once; retry says whether other ports may help.
func start(t testing.TB, bin, root string, attempt int) (s *Server, retry bool, err error) {
	var ports [3]int
	for i := range ports {
		if ports[i], err = proctest.FreePort(); err != nil {
			return nil, false, err
		}
	}
	dir := filepath.Join(root, strconv.Itoa(attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	config := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(config, []byte(ConfigYAML(dir, ports[0], ports[1], ports[2])), 0o644); err != nil {
		return nil, false, err
	}
	logPath := filepath.Join(dir, "loki.log")
	cmd := exec.Command(bin, "-config.file="+config)
	cmd.Dir = dir
	proc, err := proctest.StartProcess(cmd, logPath)
	if err != nil {
		return nil, false, err
	}
	stop := func() { proc.Stop(10 * time.Second) } // SIGTERM, then SIGKILL; once
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("lokitest: the end of Loki's log (%s):\n%s", logPath, proctest.Tail(logPath, 40))
		}
	})

	s = &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	t.Cleanup(s.client.CloseIdleConnections)
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-proc.Done():
			// Exited's error carries the end of the log.
			retry := strings.Contains(proctest.Tail(logPath, 20), "address already in use")
			return nil, retry, fmt.Errorf("loki exited at start: %w", proc.Exited())
		case <-deadline:
			stop()
			return nil, false, fmt.Errorf("loki not ready after %s:\n%s", readyTimeout, proctest.Tail(logPath, 20))
		case <-tick.C:
		}
		resp, err := s.client.Get(s.URL + "/ready")
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

// ConfigYAML returns the configuration of a single-binary Loki that works
// on loopback alone: no authentication, HTTP on httpPort and gRPC on
// grpcPort of 127.0.0.1, every address it advertises 127.0.0.1 (else it
// advertises the machine's outside address and queries hang), a
// replication factor of 1 with an in-memory ring, filesystem storage under
// dir with a tsdb v13 schema, and usage reporting off.
func ConfigYAML(dir string, httpPort, grpcPort, memberlistPort int) string {
	return fmt.Sprintf(`auth_enabled: false
analytics:
  reporting_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[2]d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[3]d
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[1]s
  replication_factor: 1
  storage:
    filesystem:
      chunks_directory: %[1]s/chunks
      rules_directory: %[1]s/rules
  ring:
    kvstore:
      store: inmemory
frontend:
  address: 127.0.0.1
memberlist:
  advertise_addr: 127.0.0.1
  bind_addr: [127.0.0.1]
  bind_port: %[4]d
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  reject_old_samples: false
  max_entries_limit_per_query: 5000
`, dir, httpPort, grpcPort, memberlistPort)
}

// An Entry is one log line and its time.
type Entry struct {
	At   time.Time
	Line string
}

// Push sends entries to Loki as one stream with labels, through
// POST /loki/api/v1/push.
func (s *Server) Push(ctx context.Context, labels map[string]string, entries []Entry) error {
	values := make([][2]string, len(entries))
	for i, e := range entries {
		values[i] = [2]string{strconv.FormatInt(e.At.UnixNano(), 10), e.Line}
	}
	body, err := json.Marshal(map[string]any{"streams": []any{map[string]any{"stream": labels, "values": values}}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/loki/api/v1/push", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
