package runner

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// corker keeps the TCP connection under a runner's WebSocket, so that a
// large output frame can be sent corked: the library writes a masked
// frame in 4 KiB pieces, and uncorked each piece would be a TCP segment
// of its own, waking the relay once per piece. Corked, a 32 KiB frame
// leaves as one (where the system supports it: Linux; elsewhere cork does
// nothing).
type corker struct {
	mu  sync.Mutex
	raw syscall.RawConn // nil until the dial connected, or if not TCP
}

// client returns an HTTP client for the WebSocket dial that records the
// connection it makes (to the relay, or to a proxy on the way).
func (k *corker) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			if raw, err := tc.SyscallConn(); err == nil {
				k.mu.Lock()
				k.raw = raw
				k.mu.Unlock()
			}
		}
		return c, err
	}
	return &http.Client{Transport: tr}
}

// cork holds back (on) or sends (off) what is written to the connection.
// Every cork is followed by an uncork once its frame is written, so
// nothing stays held: a frame written by another goroutine meanwhile
// leaves with the corked one.
func (k *corker) cork(on bool) {
	k.mu.Lock()
	raw := k.raw
	k.mu.Unlock()
	if raw != nil {
		_ = raw.Control(func(fd uintptr) { setCork(fd, on) })
	}
}
