package mqttbroker

import (
	"context"
	"crypto/x509"
	"time"
)

// Identity is an authenticated device or module connection.
type Identity struct {
	DeviceID  string
	ModuleID  string    // "" for a device
	ExpiresAt time.Time // SAS token expiry; zero means none. The broker closes the connection at that time.
}

// key is the identity's MQTT client id, which is also how the broker indexes
// its connection.
func (id Identity) key() string { return identityKey(id.DeviceID, id.ModuleID) }

func identityKey(deviceID, moduleID string) string {
	if moduleID == "" {
		return deviceID
	}
	return deviceID + "/" + moduleID
}

// ConnectRequest is what a CONNECT carried, with the username already parsed by the broker.
type ConnectRequest struct {
	ClientID string // "{deviceId}" or "{deviceId}/{moduleId}"
	Username string // raw
	Password []byte // the SAS token; empty for an X.509 client
	// Certificates is the TLS client certificate chain, leaf first, as the
	// client sent it (over TLS or WebSockets on TLS); nil if none. The
	// broker has not verified it: that is the hub's rule to apply.
	Certificates []*x509.Certificate
	Host         string // from the username
	DeviceID     string // from the client id
	ModuleID     string
	APIVersion   string // from the username query ("" if absent)
	ModelID      string // "model-id" from the username query ("" if absent)
	RemoteAddr   string
}

// Hub is the domain the broker serves. Errors it returns are *errcode.Error (package errcode).
type Hub interface {
	// Authenticate verifies the SAS token (or, with no password, the client
	// certificate) and that the identity exists and is enabled.
	Authenticate(ctx context.Context, req ConnectRequest) (Identity, error)
	// Connected and Disconnected keep connectionState/lastActivityTime; modelID is stored as the twin's modelId.
	Connected(ctx context.Context, id Identity, modelID string)
	Disconnected(ctx context.Context, id Identity)
	// GetTwin returns the MQTT twin GET body: {"desired":{...,"$version":n},"reported":{...,"$version":m}}.
	GetTwin(ctx context.Context, id Identity) ([]byte, error)
	// PatchReported applies a reported-properties patch and returns the new reported $version.
	PatchReported(ctx context.Context, id Identity, patch []byte) (int64, error)
}

// Telemetry is one device-to-cloud message as the device published it.
type Telemetry struct {
	// SystemProperties are the property-bag entries whose decoded key starts
	// with "$.", keyed without that prefix: "mid", "cid", "ct", "ce", "on", ...
	SystemProperties map[string]string
	// Properties are the application properties, decoded.
	Properties map[string]string
	Body       []byte
	// Retain is the publish's RETAIN flag. IoT Hub never stores the message;
	// it marks it with the application property mqtt-retain=true.
	Retain bool
	// Will is set when this is the connection's Will message, sent because
	// the connection was lost without a DISCONNECT.
	Will bool
}

// TelemetryReceiver is implemented by a Hub that accepts device-to-cloud
// messages. A Hub without it has telemetry dropped (logged at debug). An error
// closes the device's connection: MQTT 3.1.1 has no way to refuse one message.
type TelemetryReceiver interface {
	ReceiveTelemetry(ctx context.Context, id Identity, msg Telemetry) error
}

// C2DReceiver is implemented by a Hub that queues cloud-to-device messages.
// The broker calls C2DReady, on its own goroutine and never under its locks,
// whenever a device becomes able to receive them: after it subscribes to
// devices/{deviceId}/messages/devicebound/#, and after a clean-session=0
// reconnect whose inherited session already holds that subscription. The hub
// then calls Broker.DeliverC2D for what is queued. Modules never get C2D.
type C2DReceiver interface {
	C2DReady(ctx context.Context, id Identity)
}
