package promtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"
)

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	defer func(path string) { debianBinary = path }(debianBinary)
	debianBinary = filepath.Join(t.TempDir(), "prometheus")

	start := func(require string) *proctest.Recorder {
		t.Setenv(Require, require)
		r := &proctest.Recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r, Config{Targets: []string{"127.0.0.1:1"}})
		}()
		<-done
		return r
	}
	const advice = "install the Debian package prometheus"
	if r := start(""); !strings.Contains(r.SkipMsg, advice) || r.FatalMsg != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying to %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
	if r := start("1"); !strings.Contains(r.FatalMsg, advice) || !strings.Contains(r.FatalMsg, Require+"=1") || r.SkipMsg != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure saying to %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
}
