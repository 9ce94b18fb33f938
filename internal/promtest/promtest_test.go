package promtest

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatalf, and stops the
// goroutine as they do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	defer func(path string) { debianBinary = path }(debianBinary)
	debianBinary = filepath.Join(t.TempDir(), "prometheus")

	start := func(require string) *recorder {
		t.Setenv(Require, require)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r, Config{Targets: []string{"127.0.0.1:1"}})
		}()
		<-done
		return r
	}
	const advice = "install the Debian package prometheus"
	if r := start(""); !strings.Contains(r.skipped, advice) || r.failed != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying to %s", Require, r.skipped, r.failed, advice)
	}
	if r := start("1"); !strings.Contains(r.failed, advice) || !strings.Contains(r.failed, Require+"=1") || r.skipped != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure saying to %s", Require, r.skipped, r.failed, advice)
	}
}
