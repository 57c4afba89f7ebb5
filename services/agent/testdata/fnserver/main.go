// Command fnserver stands in for a Lambda image in the agent's e2e tests:
// it listens where RIE would and answers an invocation with the
// environment, arguments and /etc/hosts it sees. The handler "crash" makes
// it exit at once, as a function with a broken import would.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
)

func main() {
	handler := ""
	if len(os.Args) > 1 {
		handler = os.Args[1]
	}
	if handler == "crash" {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/function/invocations", func(w http.ResponseWriter, _ *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		fmt.Println("invoked")
		w.Header().Set("Content-Type", "application/json")
		hosts, _ := os.ReadFile("/etc/hosts")
		_ = json.NewEncoder(w).Encode(map[string]any{"env": env, "args": os.Args[1:], "hosts": string(hosts)})
	})
	fmt.Println("fnserver listening, handler " + handler)
	fmt.Fprintln(os.Stderr, "fnserver stderr works")
	if err := http.ListenAndServe(":8080", mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
