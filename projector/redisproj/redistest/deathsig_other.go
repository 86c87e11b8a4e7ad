//go:build !linux

package redistest

import "os/exec"

// setDeathSignal does nothing where Pdeathsig does not exist: Stop and
// Main end the nodes.
func setDeathSignal(*exec.Cmd) {}
