// Command floorproxy is the smallest HTTP hop in front of a function's
// Runtime Interface Emulator: a net/http server that forwards each request
// as is over a keep-alive connection of its own, written and read on the
// request's goroutine (as the gateway does), with none of a gateway's
// work. BenchmarkWarmInvoke runs it where the gateway runs (a container on
// the platform network, published on the host's loopback) to measure what
// one proxy hop costs on the machine at hand: the floor under any
// gateway's overhead.
package main

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
)

// upstream is one idle keep-alive connection to the target.
type upstream struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

type proxy struct {
	target *url.URL
	mu     sync.Mutex
	idle   []*upstream
}

func (p *proxy) get() (*upstream, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		u := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	conn, err := net.Dial("tcp", p.target.Host)
	if err != nil {
		return nil, err
	}
	return &upstream{conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)}, nil
}

func (p *proxy) put(u *upstream) {
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := http.NewRequest(r.Method, p.target.String()+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	u, err := p.get()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	err = out.Write(u.bw)
	if err == nil {
		err = u.bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(u.br, out)
	}
	if err != nil {
		u.conn.Close()
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		u.conn.Close()
	} else {
		p.put(u)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: floorproxy http://function:8080")
	}
	target, err := url.Parse(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", &proxy{target: target}))
}
