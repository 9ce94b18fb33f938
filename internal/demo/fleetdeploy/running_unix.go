//go:build unix

package fleetdeploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// running reports whether process pid exists and has not exited: signal 0
// reaches it (or is refused: it is another user's), and on Linux it is not
// a zombie, dead and waiting for its parent to reap it.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: signal 0 is all there is to go by
	}
	// pid (comm) state …; comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
