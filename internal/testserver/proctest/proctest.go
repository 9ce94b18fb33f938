// Package proctest holds what the helpers that run real servers in tests
// (internal/testserver/pgtest, promtest, lokitest and kubetest) share:
// starting and stopping a server process, a free port, the end of its log,
// and skipping or failing a test whose server is missing.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// server started on it may still lose a race for it: retry on a bind error.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last n lines of the file at path, or the error reading
// it as text: it is for failure messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Require is the environment variable that, set to 1, makes a missing
// server fail the test instead of skipping it (CI sets it, so that CI
// never skips an integration test).
const Require = "SAFEDEPLOY_INTEGRATION"

// Missing skips tb, saying msg (what is missing and how to install it), or
// fails it when Require is set to 1.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv(Require) == "1" {
		tb.Fatalf("%s (%s=1 requires it)", msg, Require)
	}
	tb.Skip(msg)
}

// A Recorder is a testing.TB that records Skip and Fatalf instead of acting
// on them, and ends the calling goroutine as they do: for testing helpers
// that must skip without a binary and fail when SAFEDEPLOY_INTEGRATION=1.
// Run the helper in a goroutine of its own.
type Recorder struct {
	testing.TB
	SkipMsg, FatalMsg string
}

// Helper does nothing.
func (r *Recorder) Helper() {}

// Skip records the message and ends the goroutine.
func (r *Recorder) Skip(args ...any) {
	r.SkipMsg = fmt.Sprint(args...)
	runtime.Goexit()
}

// Fatalf records the message and ends the goroutine.
func (r *Recorder) Fatalf(format string, args ...any) {
	r.FatalMsg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
