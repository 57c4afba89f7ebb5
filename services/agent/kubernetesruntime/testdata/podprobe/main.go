// Command podprobe stands in for a function image in the kubernetes
// runtime's e2e test: it prints what the Pod gives it (user, arguments,
// an environment value, whether / and /tmp are writable, its
// capabilities) on stdout and stderr, then runs until it is killed.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	fmt.Printf("args=%s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("greeting=%s\n", os.Getenv("GREETING"))
	fmt.Printf("root-writable=%t\n", os.WriteFile("/probe", []byte("x"), 0o644) == nil)
	fmt.Printf("tmp-writable=%t\n", os.WriteFile("/tmp/probe", []byte("x"), 0o644) == nil)
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "CapEff:") || strings.HasPrefix(line, "NoNewPrivs:") {
				fmt.Println(strings.Join(strings.Fields(line), " "))
			}
		}
	}
	fmt.Fprintln(os.Stderr, "stderr-line")
	for i := 0; ; i++ {
		time.Sleep(time.Second)
		fmt.Printf("tick %d\n", i)
	}
}
