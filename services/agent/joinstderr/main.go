//go:build linux

// Command joinstderr starts a function process in containerd mode with
// its stderr on the same pipe as its stdout, then becomes that process.
//
// The runc shim copies the two pipes into the container's one log file on
// its own, and the last lines written to stderr just before the process
// exits are sometimes never copied (seen with the shims of containerd 1.6
// and 2.4; stdout never lost a line). Those are the lines a crash report
// quotes: a Python traceback, a Node.js stack. One pipe loses nothing and
// keeps the two streams in the order they were written; the log file
// held them as one stream anyway.
//
// The agent bind-mounts this static binary into every function container
// and puts it in front of the image's entrypoint.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "joinstderr: usage: joinstderr command [arg...]")
		os.Exit(127)
	}
	if err := syscall.Dup3(1, 2, 0); err != nil {
		fmt.Fprintf(os.Stderr, "joinstderr: stderr onto stdout: %v\n", err)
		os.Exit(127)
	}
	// Resolved against the function's own PATH, as runc resolves args[0].
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "joinstderr: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "joinstderr: exec %s: %v\n", path, err)
	os.Exit(127)
}
