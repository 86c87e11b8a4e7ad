package redistest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills a node if the test process dies without cleaning up.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
