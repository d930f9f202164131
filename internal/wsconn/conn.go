// Package wsconn carries a byte-stream protocol over a WebSocket.
package wsconn

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// closeWait bounds the close frame sent when the server ends a connection.
const closeWait = 250 * time.Millisecond

// ErrTextFrame: only binary frames carry the protocol's bytes.
var ErrTextFrame = errors.New("websocket: text frame received, only binary frames carry the protocol")

// Conn carries a protocol's byte stream (MQTT, AMQP) over a WebSocket as a
// net.Conn: each Write is one binary message, and Read runs on across
// message boundaries, so a packet may span frames and a frame may hold
// several packets.
type Conn struct {
	ws  *websocket.Conn
	tls *tls.ConnectionState // of the HTTPS request upgraded; nil over plain HTTP

	r       io.Reader // the message being read; used by the one reader only
	readErr error     // sticky: the websocket must not be read again after an error

	wmu       sync.Mutex                // one writer at a time, as the websocket requires
	wdeadline atomic.Pointer[time.Time] // see SetWriteDeadline
	closeOnce sync.Once
	closeErr  error
}

var _ net.Conn = (*Conn)(nil)

// New wraps an upgraded WebSocket; st is the TLS state of the HTTPS request
// that was upgraded (nil over plain HTTP), which the WebSocket hides.
func New(ws *websocket.Conn, st *tls.ConnectionState) *Conn { return &Conn{ws: ws, tls: st} }

// TLS is the TLS state of the upgraded request, or nil.
func (c *Conn) TLS() *tls.ConnectionState { return c.tls }

func (c *Conn) Read(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				c.readErr = wsReadError(err)
				return 0, c.readErr
			}
			if typ != websocket.BinaryMessage {
				c.readErr = ErrTextFrame
				return 0, c.readErr
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil // message done; the stream goes on with the next one
			err = nil
			if n == 0 {
				continue
			}
		}
		if err != nil {
			c.readErr = wsReadError(err)
		}
		return n, err
	}
}

// wsReadError reports a normal close by the peer as the end of the stream.
func wsReadError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return io.EOF
	}
	return err
}

func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d := c.wdeadline.Load(); d != nil {
		_ = c.ws.SetWriteDeadline(*d)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (briefly: a peer that does not read must not
// hold it up) and closes the connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

// NetConn is the connection under the WebSocket, for a reset that must not
// send a close frame.
func (c *Conn) NetConn() net.Conn { return c.ws.NetConn() }

func (c *Conn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline may be called while another goroutine writes (mochi
// refreshes deadlines from its reader), which the websocket's own setter does
// not allow. The deadline is kept here for the next Write to apply, and set on
// the network connection at once for a write already under way.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdeadline.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}
