package mqttbroker

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Clients meeting a feature the emulator does not have yet are refused with
// one warning naming it, rather than a generic refusal that reads like a
// wrong key or a bug.
const (
	unsupportedDPS  = "Device Provisioning Service is not supported yet"
	unsupportedAMQP = "this endpoint serves MQTT, not AMQP: AMQP is served on the AMQP ports (5671 with TLS, 5672 plain) and over WebSockets on the HTTPS port"
)

// amqpWSSubprotocol is what every AMQP-over-WebSockets client offers.
const amqpWSSubprotocol = "AMQPWSB10"

// isDPSUsername reports whether a CONNECT username is the Device
// Provisioning Service's "{idScope}/registrations/{registrationId}/api-version=..."
// for clientID, which DPS clients set to the registration id. No IoT Hub
// username has that shape: its second segment starts with the client id.
func isDPSUsername(username, clientID string) bool {
	scope, rest, ok := strings.Cut(username, "/")
	return ok && scope != "" && clientID != "" && strings.HasPrefix(rest, "registrations/"+clientID+"/")
}

// refuseDPS refuses a CONNECT meant for the Device Provisioning Service, with
// "bad user name or password": the username is not an IoT Hub one.
func (b *Broker) refuseDPS(cl *mqtt.Client, pk packets.Packet) error {
	username := string(pk.Connect.Username)
	if !isDPSUsername(username, pk.Connect.ClientIdentifier) {
		return nil
	}
	scope, _, _ := strings.Cut(username, "/")
	b.log.Warn("mqtt connection refused: "+unsupportedDPS,
		"client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "listener", cl.Net.Listener, "id_scope", scope,
		"hint", "connect the device to the emulated hub directly, with a connection string (HostName, DeviceId, SharedAccessKey)")
	_ = b.server.SendConnack(cl, packets.ErrMalformedUsername, false, nil) // 3.1.1: 4, bad user name or password
	return packets.ErrMalformedUsername
}

// isAMQPWebSocket reports whether a WebSocket upgrade is AMQP's: the path
// Service Bus and Event Hubs clients use, or AMQP's subprotocol offered
// without MQTT's.
func isAMQPWebSocket(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/$servicebus/") {
		return true
	}
	offered := websocket.Subprotocols(r)
	return slices.ContainsFunc(offered, func(p string) bool { return strings.EqualFold(p, amqpWSSubprotocol) }) &&
		!slices.ContainsFunc(offered, isMQTTSubprotocol)
}

// refuseForeign logs a connection that never authenticated because it spoke
// AMQP (plain, or over TLS, or not TLS at all on a TLS port); mochi has
// closed it already, having found no CONNECT.
func (b *Broker) refuseForeign(listener string, tc *trackedConn) {
	if tc.headN < 4 || string(tc.head[:4]) != "AMQP" {
		return
	}
	b.log.Warn("connection refused: "+unsupportedAMQP, "listener", listener, "remote", tc.RemoteAddr().String(),
		"hint", "this port serves MQTT; service clients reach the hub over HTTPS")
}
