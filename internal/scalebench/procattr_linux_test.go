package scalebench

import (
	"os/exec"
	"syscall"
)

// orphanProof has the kernel kill a server the benchmark started if the
// benchmark dies first (a panic, a -timeout), so that no emulator holding
// gigabytes outlives it.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
