// Command floorproxy is the smallest HTTP hop in front of a function's
// Runtime Interface Emulator: net/http/httputil's reverse proxy forwarding
// every request as is. BenchmarkWarmInvoke runs it where the gateway runs
// (a container on the platform network, published on the host's loopback)
// to measure what one proxy hop costs on the machine at hand: the floor
// under any gateway's overhead.
package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: floorproxy http://function:8080")
	}
	target, err := url.Parse(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", httputil.NewSingleHostReverseProxy(target)))
}
