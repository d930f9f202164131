package mqttbroker

import (
	"github.com/iothub-emulator/iothub-emulator/internal/wsconn"
	"net/http"
	"slices"

	"github.com/gorilla/websocket"
)

// WebSocket subprotocols for MQTT: "mqtt" (3.1.1), and "mqttv3.1", which
// some clients offer alone.
var wsSubprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocketHandler serves MQTT over WebSockets (the HTTPS port's
// /$iothub/websocket path, subprotocol "mqtt"). Each upgraded connection is
// served like one accepted on a listener named listenerName; the handler
// returns when the connection ends.
//
// A request that is not a WebSocket upgrade gets 400, as does one offering
// only subprotocols other than MQTT's. AMQP over WebSockets (its
// subprotocol offered without MQTT's, or a /$servicebus/ path) gets 400
// too, with a warning naming where AMQP is served (the emulator routes
// AMQP upgrades to its AMQP head before they reach here). A client offering no
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
		c := wsconn.New(ws, r.TLS) // r.TLS for the client certificate, which the websocket hides
		err = b.ServeConn(listenerName, c)
		b.log.Debug("mqtt connection ended", "listener", listenerName, "remote", r.RemoteAddr, "error", err)
	})
}

func isMQTTSubprotocol(p string) bool { return slices.Contains(wsSubprotocols, p) }

// newWSConn wraps a WebSocket with no TLS state (tests dial both ends).
func newWSConn(ws *websocket.Conn) *wsconn.Conn { return wsconn.New(ws, nil) }
