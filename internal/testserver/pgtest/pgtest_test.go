package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Run(m) }

func TestStartServesAndStopsEveryProcess(t *testing.T) {
	var procs []int
	var s *Server
	t.Run("serve", func(t *testing.T) {
		start := time.Now()
		s = Start(t)
		t.Logf("started in %s on %s:%d", time.Since(start).Round(time.Millisecond), s.Host, s.Port)

		ctx := t.Context()
		// Over TCP, and over the unix socket.
		for _, dsn := range []string{
			s.CreateDatabase(t),
			fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", s.SocketDir, s.Port, User),
		} {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("connect %q: %v", dsn, err)
			}
			var fsync string
			if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
				t.Errorf("fsync = %q, %v; want off", fsync, err)
			}
			conn.Close(ctx)
		}
		if os.Geteuid() == 0 {
			fi, err := os.Stat(s.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
				t.Errorf("data directory owned by root; the server must run as another user")
			}
		}
		procs = s.Processes()
		if len(procs) < 2 {
			t.Errorf("server processes = %v, want the postmaster and its children", procs)
		}
	})
	if t.Failed() {
		return
	}
	// The subtest's cleanup stopped the server.
	for _, pid := range procs {
		if alive(pid) {
			t.Errorf("process %d of the server is still running after Stop", pid)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("a second Stop = %v, want nil", err)
	}
}

func TestDatabasesAreFreshAndShared(t *testing.T) {
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("two calls returned the same database %q", a)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a new database has %d tables (%v), want none", n, err)
	}
	if !strings.Contains(a, "port=") || shared.s == nil || !strings.Contains(a, fmt.Sprintf("port=%d ", shared.s.Port)) {
		t.Errorf("under Run, %q is not on the shared server", a)
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	defer func(dirs string) { searchDirs = dirs }(searchDirs)
	searchDirs = filepath.Join(t.TempDir(), "*", "bin")

	start := func(require string) *proctest.Recorder {
		t.Setenv(Require, require)
		r := &proctest.Recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		return r
	}
	const advice = "install the Debian package postgresql"
	if r := start(""); !strings.Contains(r.SkipMsg, advice) || r.FatalMsg != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying to %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
	if r := start("1"); !strings.Contains(r.FatalMsg, advice) || !strings.Contains(r.FatalMsg, Require+"=1") || r.SkipMsg != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure saying to %s", Require, r.SkipMsg, r.FatalMsg, advice)
	}
}
