// Package pgtest runs a real PostgreSQL for integration tests, from the
// Debian package's binaries (initdb and postgres): a throwaway cluster in a
// temporary directory, listening on 127.0.0.1 at a free port and on a unix
// socket in that directory, trusting the test user, with fsync off.
//
// A package's tests share one server, and each test gets a database of its
// own:
//
//	func TestMain(m *testing.M) { pgtest.Run(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Database(t) // a fresh database, dropped after the test
//		…
//	}
//
// The server starts when the first test asks for a database and stops when
// the package's tests are done. Without Run, Database starts a server for
// the test alone; Start does so explicitly. A test binary that exits
// without stopping it (a test timeout's panic) takes the server with it.
//
// A test that needs the server is skipped when the binaries are missing,
// unless the environment variable SAFEDEPLOY_INTEGRATION is 1 (as in CI,
// which installs the package): then it fails.
//
// PostgreSQL refuses to run as root. When the tests do, the server runs as
// the postgres system user (or, without one, as nobody): the cluster's
// directory belongs to that user and the processes are started with its
// credentials.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"

	"github.com/jackc/pgx/v5"
)

// Require is the environment variable that, set to 1, makes missing
// binaries fail the test instead of skipping it.
const Require = proctest.Require

// User is the superuser the cluster trusts.
const User = "test"

// A Server is a running PostgreSQL.
type Server struct {
	// Host and Port are where it listens: 127.0.0.1 and a free port.
	Host string
	Port int
	// SocketDir is the directory of its unix socket.
	SocketDir string
	// Dir is its data directory.
	Dir string

	cmd        *exec.Cmd
	exited     chan error
	logPath    string
	stopped    bool
	tempSocket bool         // SocketDir was made apart from Dir, to be short
	dbs        atomic.Int64 // databases created, for names
}

// searchDirs are where Debian installs the binaries, newest first once sorted.
var searchDirs = "/usr/lib/postgresql/*/bin"

// Binaries returns the directory holding initdb and postgres: that of
// postgres in PATH (following symbolic links), or the newest
// /usr/lib/postgresql/VERSION/bin.
func Binaries() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(searchDirs)
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no postgres and initdb in PATH nor in %s", searchDirs)
}

// version returns the major version in /usr/lib/postgresql/VERSION/bin.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// binaries returns the binaries' directory, or skips or fails tb.
func binaries(tb testing.TB) string {
	tb.Helper()
	dir, err := Binaries()
	if err != nil {
		msg := fmt.Sprintf("pgtest: %v; install the Debian package postgresql (apt-get install postgresql) to run this integration test", err)
		proctest.Missing(tb, msg)
	}
	return dir
}

// Start starts a server for tb alone, in tb.TempDir(), and returns once it
// accepts connections, or fails tb. tb.Cleanup stops it; if tb failed, the
// end of the server's log is logged.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := binaries(tb)
	base := tb.TempDir()
	if os.Geteuid() == 0 {
		// t.TempDir's parent is private to root; the server's user must
		// pass through it.
		if err := openPath(base); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	s, err := start(bin, base)
	if s != nil {
		tb.Cleanup(func() {
			if err := s.Stop(); err != nil {
				tb.Errorf("pgtest: %v", err)
			}
			if tb.Failed() {
				tb.Logf("pgtest: the end of the server's log (%s):\n%s", s.logPath, proctest.Tail(s.logPath, 30))
			}
		})
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return s
}

// openPath lets other users pass through the directories from the
// system's temporary directory down to dir (search permission only).
func openPath(dir string) error {
	root := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != root && strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	return nil
}

// start creates a cluster in base/data and runs it, trying other ports if
// the one chosen is taken meanwhile. The returned server, if not nil, must
// be stopped, even with an error.
func start(bin, base string) (_ *Server, err error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Dir: filepath.Join(base, "data"), SocketDir: filepath.Join(base, "sock")}
	// A unix socket's path is limited to about 107 bytes.
	if len(s.SocketDir) > 80 {
		if s.SocketDir, err = os.MkdirTemp("", "pgsock"); err != nil {
			return nil, err
		}
		s.tempSocket = true
		defer func() {
			if err != nil && (s.cmd == nil || s.stopped) {
				os.RemoveAll(s.SocketDir)
			}
		}()
	} else if err := os.Mkdir(s.SocketDir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, d := range []string{base, s.SocketDir} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}

	s.logPath = filepath.Join(base, "initdb.log")
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", s.Dir, "-U", User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	if err := run(initdb, base, cred, s.logPath); err != nil {
		return nil, fmt.Errorf("initdb: %w:\n%s", err, proctest.Tail(s.logPath, 20))
	}
	for attempt := 1; ; attempt++ {
		err := s.run(bin, base, cred)
		if err == nil {
			return s, nil
		}
		if s.cmd != nil && !s.stopped {
			return s, err
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
	}
}

var errPortTaken = errors.New("port taken")

// run runs cmd to completion in dir as cred, with its output in logPath.
func run(cmd *exec.Cmd, dir string, cred *syscall.Credential, logPath string) error {
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Dir, cmd.Env = dir, env()
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig: a test binary that exits without its clean-up (a test
	// timeout's panic, a SIGKILL) takes the postmaster with it, and the
	// postmaster's children end when they see it gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
	return cmd.Run()
}

// env is the environment of the server's processes: this one's without
// PostgreSQL's own variables, in the C locale.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG") {
			out = append(out, kv)
		}
	}
	return append(out, "LC_ALL=C", "LANG=C")
}

// run starts postgres on a free port and waits until it accepts
// connections.
func (s *Server) run(bin, base string, cred *syscall.Credential) error {
	port, err := proctest.FreePort()
	if err != nil {
		return err
	}
	s.Port = port
	s.logPath = filepath.Join(base, fmt.Sprintf("postgres-%d.log", port))
	log, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", s.Dir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses="+s.Host,
		"-c", "unix_socket_directories="+s.SocketDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
	)
	cmd.Dir, cmd.Env = s.Dir, env()
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig: a test binary that exits without its clean-up (a test
	// timeout's panic, a SIGKILL) takes the postmaster with it, and the
	// postmaster's children end when they see it gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd, s.stopped = cmd, false
	s.exited = make(chan error, 1)
	go func() { s.exited <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.exited:
			s.stopped = true
			out := proctest.Tail(s.logPath, 20)
			if strings.Contains(out, "could not bind") || strings.Contains(out, "already in use") {
				return fmt.Errorf("%w: postgres exited at start (%v):\n%s", errPortTaken, err, out)
			}
			return fmt.Errorf("postgres exited at start (%v):\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if err := s.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30s: %v:\n%s", err, proctest.Tail(s.logPath, 20))
		}
	}
}

// ping connects to the postgres database over TCP.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Stop stops the server with a fast shutdown (SIGINT: the server ends its
// sessions and waits for its processes to exit), escalating to an
// immediate shutdown and then SIGKILL if it has not stopped after 10s, and
// returns once the server's processes are gone. It reports an error if it
// had to escalate or if a server process outlived it. Stopping a stopped
// server does nothing.
func (s *Server) Stop() error {
	if s.cmd == nil || s.stopped {
		return nil
	}
	s.stopped = true
	children := childrenOf(s.cmd.Process.Pid)
	var problems []error
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		problems = append(problems, errors.New("postgres did not stop within 10s of SIGINT; sent SIGQUIT"))
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	// The postmaster waits for its children before it exits; make sure.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range children {
		for alive(pid) {
			if time.Now().After(deadline) {
				problems = append(problems, fmt.Errorf("server process %d still running after postgres exited; killed it", pid))
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if s.tempSocket {
		os.RemoveAll(s.SocketDir)
	}
	if len(problems) > 0 {
		return fmt.Errorf("stopping postgres: %w", errors.Join(problems...))
	}
	return nil
}

// Processes returns the IDs of the server's running processes: the
// postmaster and its children.
func (s *Server) Processes() []int {
	if s.cmd == nil || s.stopped {
		return nil
	}
	return append([]int{s.cmd.Process.Pid}, childrenOf(s.cmd.Process.Pid)...)
}

// childrenOf returns the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := parent(child); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// parent returns pid's parent and state from /proc/pid/stat.
func parent(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool {
	_, state := parent(pid)
	return state != "" && state != "Z" && state != "X"
}

// ConnString returns a connection string for database name over TCP, as
// the trusted superuser.
func (s *Server) ConnString(name string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.Host, s.Port, User, name)
}

// CreateDatabase creates an empty database, dropped (its sessions ended)
// when tb ends, and returns its connection string. It fails tb if it
// cannot.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	if err := s.exec(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s.ConnString(name)
}

// exec runs sql in the postgres database.
func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// shared is the package's server under Run.
var shared struct {
	on   bool
	once sync.Once
	dir  string
	s    *Server
	err  error
}

// Run runs the package's tests, m.Run, with one server shared between
// them, started by the first call of Database, and stops it afterwards.
// It returns m.Run's exit code, which a TestMain that returns after
// calling it passes on:
//
//	func TestMain(m *testing.M) { pgtest.Run(m) }
func Run(m *testing.M) int {
	shared.on = true
	code := m.Run()
	if shared.s != nil {
		if err := shared.s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "pgtest: the end of the server's log (%s):\n%s\n", shared.s.logPath, proctest.Tail(shared.s.logPath, 30))
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// Database returns the connection string of a new, empty database, dropped
// when tb ends: on the package's shared server under Run, or on a server
// started for tb alone. It skips or fails tb as Start does.
func Database(tb testing.TB) string {
	tb.Helper()
	if !shared.on {
		return Start(tb).CreateDatabase(tb)
	}
	bin := binaries(tb)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "pgtest")
		if shared.err == nil {
			shared.s, shared.err = start(bin, shared.dir)
		}
	})
	if shared.err != nil {
		tb.Fatalf("pgtest: starting the shared server: %v", shared.err)
	}
	return shared.s.CreateDatabase(tb)
}

// credential returns whom to run the server as: nil (this process's user)
// unless this process is root, whom PostgreSQL refuses; then the postgres
// system user, or nobody.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			errs = append(errs, fmt.Errorf("user %s has uid %s, gid %s", name, u.Uid, u.Gid))
			continue
		}
		// No supplementary groups: none of root's.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, which postgres refuses, and no user to run it as: %w", errors.Join(errs...))
}
