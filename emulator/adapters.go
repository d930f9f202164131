package emulator

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/mqttbroker"
)

// deviceSide lets the MQTT broker reach the hub without the hub knowing MQTT.
type deviceSide struct{ h *hub.Hub }

func (d deviceSide) Authenticate(_ context.Context, req mqttbroker.ConnectRequest) (mqttbroker.Identity, error) {
	exp, err := d.h.AuthenticateDevice(req.DeviceID, req.ModuleID, string(req.Password))
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

// notifier delivers hub events to device connections.
type notifier struct{ b *mqttbroker.Broker }

func (n notifier) DesiredChanged(deviceID, moduleID string, version int64, body []byte) {
	n.b.NotifyDesired(deviceID, moduleID, version, body)
}

func (n notifier) Disconnect(deviceID, moduleID string) { n.b.Disconnect(deviceID, moduleID) }
