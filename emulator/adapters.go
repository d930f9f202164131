package emulator

import (
	"context"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/api"
	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/debuglog"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/mqttbroker"
)

// deviceSide lets the MQTT broker reach the hub without the hub knowing MQTT.
type deviceSide struct {
	h      *hub.Hub
	queues *c2d.Queues
	strict bool // refuse api-versions the real hub refuses
}

// C2DReady delivers what is queued for a device that can now receive it.
func (d deviceSide) C2DReady(_ context.Context, id mqttbroker.Identity) {
	if id.ModuleID == "" {
		d.queues.DeviceReady(id.DeviceID)
	}
}

func (d deviceSide) Authenticate(_ context.Context, req mqttbroker.ConnectRequest) (mqttbroker.Identity, error) {
	if d.strict && !api.KnownAPIVersion(req.APIVersion) {
		return mqttbroker.Identity{}, errcode.New(errcode.InvalidProtocolVersion, "The api-version %q is not supported.", req.APIVersion)
	}
	var exp time.Time
	var err error
	if len(req.Password) == 0 && len(req.Certificates) > 0 {
		// X.509 clients send no password; a certificate beside a SAS
		// token is not what authenticates.
		err = d.h.AuthenticateDeviceX509(req.DeviceID, req.ModuleID, req.Certificates)
	} else {
		exp, err = d.h.AuthenticateDevice(req.DeviceID, req.ModuleID, string(req.Password))
	}
	if err != nil {
		return mqttbroker.Identity{}, err
	}
	return mqttbroker.Identity{DeviceID: req.DeviceID, ModuleID: req.ModuleID, ExpiresAt: exp}, nil
}

func (d deviceSide) Connected(ctx context.Context, id mqttbroker.Identity, modelID string) {
	d.h.SetConnected(ctx, id.DeviceID, id.ModuleID, true, modelID)
}

func (d deviceSide) Disconnected(ctx context.Context, id mqttbroker.Identity) {
	d.h.SetConnected(ctx, id.DeviceID, id.ModuleID, false, "")
}

func (d deviceSide) GetTwin(ctx context.Context, id mqttbroker.Identity) ([]byte, error) {
	return d.h.DeviceTwin(ctx, id.DeviceID, id.ModuleID)
}

func (d deviceSide) PatchReported(ctx context.Context, id mqttbroker.Identity, patch []byte) (int64, error) {
	return d.h.PatchReported(ctx, id.DeviceID, id.ModuleID, patch)
}

func (d deviceSide) ReceiveTelemetry(ctx context.Context, id mqttbroker.Identity, msg mqttbroker.Telemetry) error {
	return d.h.ReceiveTelemetry(ctx, id.DeviceID, id.ModuleID, hub.Telemetry{
		SystemProperties: msg.SystemProperties,
		Properties:       msg.Properties,
		Body:             msg.Body,
		Retain:           msg.Retain,
		Will:             msg.Will,
	})
}

// packetEntry renders an MQTT packet for the debug wire log.
func packetEntry(ev mqttbroker.PacketEvent) debuglog.Entry {
	detail := map[string]any{}
	if ev.PacketID != 0 {
		detail["packetId"] = ev.PacketID
	}
	if ev.QoS != 0 {
		detail["qos"] = ev.QoS
	}
	if ev.Username != "" {
		detail["username"] = ev.Username
	}
	if len(ev.Filters) > 0 {
		detail["filters"] = ev.Filters
	}
	if ev.Type == "Connack" || ev.Type == "Suback" {
		detail["returnCode"] = ev.Reason
	}
	return debuglog.Entry{
		Protocol: "mqtt", Direction: ev.Direction, Client: ev.ClientID, Packet: ev.Type,
		Topic: ev.Topic, Body: debuglog.Body(ev.Payload), Detail: detail,
	}
}

// mqttHead is the MQTT broker as a head of the device link: it puts queued
// cloud-to-device messages on the wire in IoT Hub's MQTT property bag.
type mqttHead struct {
	*mqttbroker.Broker
	delivered *metrics.CounterVec
}

func (h mqttHead) Holds(deviceID, moduleID string) bool { return h.IsConnected(deviceID, moduleID) }

func (h mqttHead) DeliverC2D(deviceID string, m c2d.Message, ack func()) error {
	if err := h.Broker.DeliverC2D(deviceID, wireC2D(deviceID, m), ack); err != nil {
		return err
	}
	h.delivered.Inc("")
	return nil
}

// wireC2D maps a queued message to the property bag IoT Hub sends: system
// properties ($.mid, $.to, ...) and application properties with iothub-ack.
func wireC2D(deviceID string, m c2d.Message) mqttbroker.C2DMessage {
	sys := map[string]string{"to": "/devices/" + deviceID + "/messages/deviceBound"}
	for k, v := range map[string]string{"mid": m.MessageID, "cid": m.CorrelationID, "uid": m.UserID, "ct": m.ContentType, "ce": m.ContentEncoding} {
		if v != "" {
			sys[k] = v
		}
	}
	if !m.ExpiryTime.IsZero() {
		sys["exp"] = m.ExpiryTime.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	props := make(map[string]string, len(m.Properties)+1)
	for k, v := range m.Properties {
		props[k] = v
	}
	if m.Ack != "" && !strings.EqualFold(m.Ack, c2d.AckNone) {
		props["iothub-ack"] = strings.ToLower(m.Ack)
	}
	return mqttbroker.C2DMessage{SystemProperties: sys, Properties: props, Body: m.Body}
}
