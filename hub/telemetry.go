package hub

import (
	"context"
	"maps"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// Telemetry is one device-to-cloud message as the device protocol parsed it.
type Telemetry struct {
	// SystemProperties are keyed as in the MQTT property bag, without "$.".
	SystemProperties map[string]string
	Properties       map[string]string
	Body             []byte
	Retain           bool // published with RETAIN: IoT Hub marks it mqtt-retain=true
	Will             bool // the connection's Will message
}

// activityResolution bounds how often telemetry refreshes lastActivityTime,
// so a chatty device does not re-render its twin on every message.
const activityResolution = time.Second

// ReceiveTelemetry records a device-to-cloud message in the hub's log. It
// returns once the message is durable; a message over IoT Hub's size limit
// is refused with MessageTooLarge.
func (h *Hub) ReceiveTelemetry(ctx context.Context, deviceID, moduleID string, t Telemetry) error {
	e, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return err
	}
	sys := d2c.SystemProperties(t.SystemProperties)
	sys["iothub-connection-auth-method"] = e.kind.authMethod()
	sys["iothub-connection-auth-generation-id"] = e.generationID
	props := maps.Clone(t.Properties)
	if props == nil {
		props = map[string]string{}
	}
	if t.Retain {
		props["mqtt-retain"] = "true"
	}
	if t.Will {
		props["iothub-MessageType"] = "Will"
	}
	// Send refuses a message over d2c.MaxMessageSize. The maps are this
	// call's own, so they go to the log as they are.
	msg := d2c.Message{DeviceID: deviceID, ModuleID: moduleID, SystemProperties: sys, Properties: props, Body: t.Body}
	if err := h.telemetry.Send(ctx, msg); err != nil {
		return err
	}
	h.stats.d2cMessages.Inc("")
	h.noteActivity(deviceID, moduleID)
	return nil
}

// noteActivity moves lastActivityTime forward in memory; the next persisted
// write of the identity stores it.
func (h *Hub) noteActivity(deviceID, moduleID string) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return
	}
	if h.now().Sub(cur.lastActivity) < activityResolution {
		return
	}
	next := cur.with()
	next.lastActivity = h.stamp()
	h.publish(identityKey(deviceID, moduleID), next)
	h.activityAhead(identityKey(deviceID, moduleID))
}
