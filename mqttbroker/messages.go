package mqttbroker

import (
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// telemetry hands a device-to-cloud message to the hub, if the hub takes
// telemetry; otherwise the message is dropped.
func (b *Broker) telemetry(s *session, p parsedPublish, body []byte, retain, will bool) error {
	system, props := p.system, p.props
	// Metered as the hub meters it (decoded property values, not the
	// percent-encoded bag), and refused here so that an oversized message
	// closes the connection whichever hub the broker serves.
	if n := d2c.MeteredSize(body, system, props); n > maxTelemetrySize {
		return errcode.New(errcode.MessageTooLarge, "the message is %d bytes; IoT Hub accepts at most %d", n, maxTelemetrySize)
	}
	r, ok := b.hub.(TelemetryReceiver)
	if !ok {
		s.log.Debug("telemetry dropped: the hub takes no telemetry", "bytes", len(body), "will", will)
		return nil
	}
	ctx, cancel := b.hubContext()
	defer cancel()
	err := r.ReceiveTelemetry(ctx, s.id, Telemetry{
		SystemProperties: system,
		Properties:       props,
		Body:             body,
		Retain:           retain,
		Will:             will,
	})
	if err == nil {
		s.log.Debug("telemetry", "bytes", len(body), "will", will)
	}
	return err
}
