package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// A Process is a server started by StartProcess: in a process group of its
// own, its standard output and error appended to a log file.
type Process struct {
	// Name is the binary's base name, for messages.
	Name string
	// LogPath is the file its output goes to.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, set before done closes
}

// StartProcess starts cmd (its Path, Args, Dir and Env as the caller set
// them) with its output appended to logPath (created if need be), in a
// process group of its own so that Stop reaches whatever it starts. The
// process is killed if the thread that started it ends — as it does when
// the test binary exits without cleaning up (a test timeout's panic) — so
// that no server outlives its test; call it from a goroutine not locked to
// its thread. It fails if the log cannot be opened or the binary cannot be
// started.
func StartProcess(cmd *exec.Cmd, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{Name: filepath.Base(cmd.Path), LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited returns an error saying how the process ended, with the end of
// its log, once Done is closed; before, it returns nil.
func (p *Process) Exited() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	state := "exited"
	if p.err != nil {
		state = p.err.Error()
	}
	return fmt.Errorf("%s %s; the end of its log (%s):\n%s", p.Name, state, p.LogPath, Tail(p.LogPath, 20))
}

// Signal sends sig to the process's group, unless the process has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM to the process's group and waits for the process to
// exit; if it has not after grace, it sends SIGKILL to the group, waits,
// and returns an error saying so. Stopping a process that has exited does
// nothing and returns nil.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := -p.cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s: %w", p.Name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	syscall.Kill(pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not exit within %s of SIGTERM; killed it", p.Name, grace)
}
