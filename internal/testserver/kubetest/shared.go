package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// shared is the package's cluster under Run.
var shared struct {
	on   bool
	opts []Option
	once sync.Once
	dir  string
	c    *Cluster
	err  error
}

// Run runs the package's tests, m.Run, with one cluster shared between
// them, started with opts by the first call of Shared, and stops it
// afterwards. It returns m.Run's exit code, for TestMain to pass on:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }
func Run(m *testing.M, opts ...Option) int {
	shared.on, shared.opts = true, opts
	code := m.Run()
	if c := shared.c; c != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kubetest: %s", c.logs())
		}
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// Shared returns the package's cluster under Run, starting it on the first
// call, or without Run a cluster started for tb alone (Start). It skips or
// fails tb as Start does, and fails every test that asks for it if it
// could not start. Tests that share it should work in namespaces of their
// own (Namespace) and leave the API server running.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	if !shared.on {
		return Start(tb)
	}
	dir, etcd := binaries(tb)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "kubetest")
		if shared.err == nil {
			shared.c, shared.err = start(dir, etcd, shared.dir, shared.opts)
		}
		if shared.err == nil {
			tb.Logf("kubetest: shared control plane at %s ready in %s", shared.c.URL, shared.c.StartDuration.Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		tb.Fatalf("kubetest: starting the shared control plane: %v", shared.err)
	}
	return shared.c
}
