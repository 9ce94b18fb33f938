package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleeper returns a command that runs for a minute unless stopped.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	return exec.Command(sleep, "60")
}

func TestProcessStop(t *testing.T) {
	p, err := StartProcess(sleeper(t), filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Exited(); err != nil {
		t.Fatalf("running process: Exited() = %v, want nil", err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Exited(); err == nil || !strings.Contains(err.Error(), "sleep") {
		t.Errorf("Exited() = %v, want an error naming sleep", err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("stopping a stopped process: %v", err)
	}
}

// TestProcessStopKills: a process that ignores SIGTERM is killed after
// the grace period, and Stop says so.
func TestProcessStopKills(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	log := filepath.Join(t.TempDir(), "log")
	p, err := StartProcess(cmd, log)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(log); bytes.Contains(b, []byte("ready")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not start")
		}
	}
	if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop = %v, want an error saying it killed the process", err)
	}
}

// TestProcessDiesWithTest: a process started and never stopped does not
// outlive the test binary that started it. The test runs itself as a
// child that starts sleep, prints its pid and exits without cleaning up.
func TestProcessDiesWithTest(t *testing.T) {
	if os.Getenv("PROCTEST_ORPHAN") == "1" {
		p, err := StartProcess(sleeper(t), os.Getenv("PROCTEST_LOG"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("pid", p.cmd.Process.Pid)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcessDiesWithTest$")
	cmd.Env = append(os.Environ(), "PROCTEST_ORPHAN=1", "PROCTEST_LOG="+filepath.Join(t.TempDir(), "log"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	var pid int
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid == 0 {
		t.Fatalf("child printed no pid: %s", out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, state := stat(pid); state == "" || state == "Z" {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs 10s after the test binary that started it exited", pid)
		}
	}
}

// stat returns pid's command name and state from /proc/pid/stat, or empty
// strings if there is no such process.
func stat(pid int) (comm, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", ""
	}
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return "", ""
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) == 0 {
		return "", ""
	}
	return string(b[i+1 : j]), f[0]
}
