package mqttbroker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// trackedConn is every connection the broker serves. The wrapper gives the
// hooks a comparable handle on which to find the connection's session, for
// any net.Conn a caller hands over.
type trackedConn struct {
	net.Conn
	sess  atomic.Pointer[session]    // set once the CONNECT is authenticated, cleared by finish
	dps   atomic.Pointer[dpsSession] // set instead for an authenticated DPS client
	abort atomic.Bool                // Close resets the connection; see abortClose
	ended atomic.Int64               // when finish settled it (Broker.now, Unix ns); 0 before

	// The first bytes the client sent, to name what it speaks when they
	// were not MQTT (see refuseForeign). Read only on the connection's
	// own goroutine, which runs mochi's reads.
	head  [8]byte
	headN int
}

// Read records the first bytes read, and for a TLS connection the record
// header of a client that did not speak TLS at all.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.headN < len(c.head) {
		c.headN += copy(c.head[c.headN:], p[:n])
		var rh tls.RecordHeaderError
		if c.headN == 0 && errors.As(err, &rh) {
			c.headN = copy(c.head[:], rh.RecordHeader[:])
		}
	}
	return n, err
}

// Close closes the connection, or resets it once abort is set.
func (c *trackedConn) Close() error {
	if c.abort.Load() {
		return abortClose(c.Conn)
	}
	return c.Conn.Close()
}

// abortClose drops a connection the way a failing network does: the
// innermost connection is closed, so no TLS close_notify or WebSocket close
// frame is sent, and a TCP connection is reset rather than shut down.
func abortClose(c net.Conn) error {
	for {
		inner, ok := c.(interface{ NetConn() net.Conn })
		if !ok || inner.NetConn() == nil {
			break
		}
		c = inner.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	return c.Close()
}

// netListener is mochi's listeners.Listener over a net.Listener the caller
// bound, so the caller can use port 0 and TLS as it likes.
type netListener struct {
	id        string
	ln        net.Listener
	b         *Broker
	done      chan struct{} // closed when Serve returns
	closeOnce sync.Once
}

var _ listeners.Listener = (*netListener)(nil)

func (l *netListener) Init(*slog.Logger) error { return nil }
func (l *netListener) ID() string              { return l.id }
func (l *netListener) Address() string         { return l.ln.Addr().String() }
func (l *netListener) Protocol() string        { return l.ln.Addr().Network() }

// Serve accepts until the listener is closed. Like net/http it retries
// transient accept errors (out of file descriptors, say) with a backoff.
func (l *netListener) Serve(establish listeners.EstablishFn) {
	defer close(l.done)
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.b.ctx.Err() != nil {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.b.log.Warn("mqtt accept failed", "listener", l.id, "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-l.b.ctx.Done():
				return
			}
		}
		delay = 0
		tc, err := l.b.track(conn)
		if err != nil {
			_ = conn.Close()
			return
		}
		go func() {
			err := l.b.serve(l.id, tc, establish)
			l.b.log.Debug("mqtt connection ended", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
		}()
	}
}

// Close is called by mochi when the server stops.
func (l *netListener) Close(closeClients listeners.CloseFn) {
	closeClients(l.id)
	l.closeListener()
}

func (l *netListener) closeListener() {
	l.closeOnce.Do(func() { _ = l.ln.Close() })
}
