package amqphub

import (
	"context"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// batchFormat is the message-format of a batch: a message whose data
// sections each hold one encoded message (the SDKs' sendEventBatch).
const batchFormat = 0x80013700

// telemetryReceiver takes an identity's device-to-cloud messages on
// /devices/{id}[/modules/{mid}]/messages/events into the hub's telemetry
// path, the one MQTT publishes take. A message is accepted only once it is
// durable, as MQTT's PUBACK waits for it; a refusal carries the hub's error.
type telemetryReceiver struct {
	s  *Server
	id identity
}

func (r telemetryReceiver) Receive(ctx context.Context, msg *amqp.Message) amqp.DeliveryState {
	msgs := []*amqp.Message{msg}
	if msg.Format == batchFormat {
		var err error
		if msgs, err = unbatch(msg); err != nil {
			return rejected(err)
		}
	}
	for _, m := range msgs {
		if err := r.s.hub.ReceiveTelemetry(ctx, r.id.deviceID, r.id.moduleID, telemetry(m)); err != nil {
			r.s.log.Debug("telemetry refused", "device", r.id.deviceID, "module", r.id.moduleID, "err", err)
			return rejected(err)
		}
	}
	return &amqp.Accepted{}
}

// unbatch decodes the messages of a batch, each its own data section. A
// batch that does not decode is refused whole, so none of it is stored.
func unbatch(batch *amqp.Message) ([]*amqp.Message, error) {
	if len(batch.Data) == 0 {
		return nil, errcode.New(errcode.ArgumentInvalid, "The batch holds no messages.")
	}
	out := make([]*amqp.Message, 0, len(batch.Data))
	for i, d := range batch.Data {
		m, err := amqp.UnmarshalMessage(d)
		if err != nil {
			return nil, errcode.New(errcode.ArgumentInvalid, "Message %d of the batch does not decode: %v", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// telemetry maps an AMQP message to the hub's telemetry: the properties
// IoT Hub keeps as system properties (keyed as in MQTT's property bag) and
// the application properties as strings.
func telemetry(m *amqp.Message) hub.Telemetry {
	sys := map[string]string{}
	if p := m.Properties; p != nil {
		for k, v := range map[string]string{
			"mid": idString(p.MessageID), "cid": idString(p.CorrelationID), "uid": string(p.UserID),
			"ct": string(p.ContentType), "ce": string(p.ContentEncoding),
		} {
			if v != "" {
				sys[k] = v
			}
		}
		if !p.AbsoluteExpiryTime.IsZero() {
			sys["exp"] = p.AbsoluteExpiryTime.UTC().Format(time.RFC3339Nano)
		}
	}
	props := make(map[string]string, len(m.ApplicationProperties))
	for k, v := range m.ApplicationProperties {
		props[k] = propertyString(v)
	}
	return hub.Telemetry{SystemProperties: sys, Properties: props, Body: messageBody(m)}
}

// rejected is the rejected outcome carrying the hub's error.
func rejected(err error) *amqp.Rejected {
	e := errcode.From(err)
	return &amqp.Rejected{Error: &amqp.Error{Condition: amqp.Symbol(e.AMQPCondition()), Description: e.AMQPDescription()}}
}
