package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// A test binary that exits without stopping its server (a test timeout's
// panic exits so) leaves no server process behind.
func TestServerDiesWithTest(t *testing.T) {
	if os.Getenv("PGTEST_ORPHAN") == "1" {
		s := Start(t)
		fmt.Println("pids", strings.Trim(fmt.Sprint(s.Processes()), "[]"))
		os.Exit(0) // no clean-up
	}
	if testing.Short() {
		t.Skip("starts a server in a child process")
	}
	binaries(t) // skips or fails here, as the child's Start would
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTest$")
	cmd.Env = append(os.Environ(), "PGTEST_ORPHAN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	var pids []int
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "pids "); ok {
			for _, f := range strings.Fields(rest) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("child printed %q", line)
				}
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) < 2 {
		t.Fatalf("child printed no server processes: %s", out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left := slices.DeleteFunc(slices.Clone(pids), func(pid int) bool { return !alive(pid) })
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("server processes %v still run 10s after the test binary that started them exited", left)
		}
	}
}
