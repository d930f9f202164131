package mqttbroker

import "github.com/iothub-emulator/iothub-emulator/errcode"

// telemetry hands a device-to-cloud message to the hub, if the hub takes
// telemetry; otherwise the message is dropped.
func (b *Broker) telemetry(s *session, t deviceTopic, body []byte, retain, will bool) error {
	// Counted before the hub sees it, so the properties it adds cannot push
	// a message of exactly the limit over.
	if n := len(body) + len(t.PropertyBag); n > maxTelemetrySize {
		return errcode.New(errcode.MessageTooLarge, "the message is %d bytes (body and property bag); IoT Hub accepts at most %d", n, maxTelemetrySize)
	}
	system, props, err := parsePropertyBag(t.PropertyBag)
	if err != nil {
		return err
	}
	r, ok := b.hub.(TelemetryReceiver)
	if !ok {
		s.log.Debug("telemetry dropped: the hub takes no telemetry", "bytes", len(body), "will", will)
		return nil
	}
	ctx, cancel := b.hubContext()
	defer cancel()
	err = r.ReceiveTelemetry(ctx, s.id, Telemetry{
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
