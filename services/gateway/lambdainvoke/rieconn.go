package lambdainvoke

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
)

// rieConn is a lease's own keep-alive connection to its container's RIE.
// A container runs one invocation at a time, so one connection serves its
// lease, and the call runs on the invoking goroutine from request to
// response. net/http's Transport would hand each request to a writer
// goroutine and each response back from a reader goroutine: two wakeups
// per call that cost 0.09 ms on a 2-vCPU host, a quarter of what the
// gateway added to a warm invocation.
type rieConn struct {
	conn        net.Conn
	br          *bufio.Reader
	bw          *bufio.Writer
	invocations *url.URL // the RIE's invoke URL, parsed once per connection
}

// dialRIE connects to the RIE at endpoint (a base URL, http://ip:port).
// Its errors are the dialer's own (*net.OpError, Op "dial") when nothing
// answered, which the caller reads as "the event never left the gateway".
func dialRIE(ctx context.Context, d *net.Dialer, endpoint string) (*rieConn, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("container endpoint %q: want http://host:port", endpoint)
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + agentapi.Invocations
	return &rieConn{conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn), invocations: u}, nil
}

// invocation is the request that posts payload to the RIE.
func (c *rieConn) invocation(payload []byte) *http.Request {
	return &http.Request{
		Method:        http.MethodPost,
		URL:           c.invocations,
		Host:          c.invocations.Host,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(payload)),
		ContentLength: int64(len(payload)),
	}
}

// usable reports whether an idle connection can carry the next request:
// the container has not closed it (its RIE stopped or the container went
// away) and sent nothing unasked. It peeks at the socket without blocking:
// a read with an expired deadline would not even look.
func (c *rieConn) usable() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil || c.conn.SetDeadline(time.Time{}) != nil {
		return false
	}
	idle := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "nothing to read yet" leaves it usable: EOF (no error), a
		// reset or stray bytes all spoil it.
		idle = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && idle
}

// roundTrip writes req and reads the response head; the caller reads the
// body from resp.Body before the next roundTrip. Both directions end at
// deadline, whose expiry surfaces as an error wrapping
// os.ErrDeadlineExceeded.
func (c *rieConn) roundTrip(req *http.Request, deadline time.Time) (*http.Response, error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(c.br, req)
}

func (c *rieConn) Close() error { return c.conn.Close() }
