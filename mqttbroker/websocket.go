package mqttbroker

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket subprotocols for MQTT: "mqtt" (3.1.1), and "mqttv3.1", which
// some clients offer alone.
var wsSubprotocols = []string{"mqtt", "mqttv3.1"}

// wsCloseWait bounds the close frame sent when the broker ends a connection.
const wsCloseWait = 250 * time.Millisecond

var errTextFrame = errors.New("mqtt over websocket: text frame received, only binary frames carry MQTT")

// WebSocketHandler serves MQTT over WebSockets (the HTTPS port's
// /$iothub/websocket path, subprotocol "mqtt"). Each upgraded connection is
// served like one accepted on a listener named listenerName; the handler
// returns when the connection ends.
//
// A request that is not a WebSocket upgrade gets 400, as does one offering
// only subprotocols other than MQTT's. AMQP over WebSockets (its
// subprotocol offered without MQTT's, or a /$servicebus/ path) gets 400
// too, with a warning that AMQP is not supported yet. A client offering no
// subprotocol at all is served anyway. The Origin header is not checked:
// devices are not browsers, and every connection must still authenticate
// with its SAS token in CONNECT.
func (b *Broker) WebSocketHandler(listenerName string) http.Handler {
	up := websocket.Upgrader{
		HandshakeTimeout: connectTimeout,
		Subprotocols:     wsSubprotocols,
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			http.Error(w, "this endpoint serves MQTT over WebSockets only: send a WebSocket upgrade request", http.StatusBadRequest)
			return
		}
		if isAMQPWebSocket(r) {
			b.log.Warn("websocket refused: "+unsupportedAMQP, "listener", listenerName, "remote", r.RemoteAddr,
				"path", r.URL.Path, "subprotocols", websocket.Subprotocols(r))
			http.Error(w, unsupportedAMQP, http.StatusBadRequest)
			return
		}
		if offered := websocket.Subprotocols(r); len(offered) > 0 && !slices.ContainsFunc(offered, isMQTTSubprotocol) {
			http.Error(w, `unsupported WebSocket subprotocol: offer "mqtt"`, http.StatusBadRequest)
			return
		}
		if b.isClosed() {
			http.Error(w, "the MQTT broker is closed", http.StatusServiceUnavailable)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil { // Upgrade has answered the request already
			b.log.Debug("websocket upgrade failed", "listener", listenerName, "remote", r.RemoteAddr, "error", err)
			return
		}
		c := newWSConn(ws)
		c.tls = r.TLS // for the client certificate, which the websocket hides
		err = b.ServeConn(listenerName, c)
		b.log.Debug("mqtt connection ended", "listener", listenerName, "remote", r.RemoteAddr, "error", err)
	})
}

func isMQTTSubprotocol(p string) bool { return slices.Contains(wsSubprotocols, p) }

// wsConn carries an MQTT byte stream over a WebSocket as a net.Conn: each
// Write is one binary message, and Read runs on across message boundaries,
// so a packet may span frames and a frame may hold several packets.
type wsConn struct {
	ws  *websocket.Conn
	tls *tls.ConnectionState // of the HTTPS request upgraded; nil over plain HTTP

	r       io.Reader // the message being read; used by the one reader only
	readErr error     // sticky: the websocket must not be read again after an error

	wmu       sync.Mutex                // one writer at a time, as the websocket requires
	wdeadline atomic.Pointer[time.Time] // see SetWriteDeadline
	closeOnce sync.Once
	closeErr  error
}

var _ net.Conn = (*wsConn)(nil)

func newWSConn(ws *websocket.Conn) *wsConn { return &wsConn{ws: ws} }

func (c *wsConn) Read(p []byte) (int, error) {
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
				c.readErr = errTextFrame
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

func (c *wsConn) Write(p []byte) (int, error) {
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
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseWait))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

// NetConn is the connection under the WebSocket, for a reset that must not
// send a close frame.
func (c *wsConn) NetConn() net.Conn { return c.ws.NetConn() }

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline may be called while another goroutine writes (mochi
// refreshes deadlines from its reader), which the websocket's own setter does
// not allow. The deadline is kept here for the next Write to apply, and set on
// the network connection at once for a write already under way.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wdeadline.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}
