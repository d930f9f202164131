package amqphub

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// c2dReceiver takes the service's cloud-to-device sends on
// /messages/devicebound: each message's To names the device. A message is
// accepted only once it is queued durably; a refusal carries the hub's
// error (amqp:not-found for an unknown device, and so on).
type c2dReceiver struct{ s *Server }

func (r c2dReceiver) Receive(ctx context.Context, msg *amqp.Message) amqp.DeliveryState {
	deviceID, m, err := c2dMessage(msg)
	if err == nil {
		_, err = r.s.c2d.Enqueue(ctx, deviceID, m)
	}
	if err != nil {
		e := errcode.From(err)
		r.s.log.Debug("cloud-to-device send refused", "device", deviceID, "err", err)
		return &amqp.Rejected{Error: &amqp.Error{Condition: amqp.Symbol(e.AMQPCondition()), Description: e.AMQPDescription()}}
	}
	return &amqp.Accepted{}
}

// c2dMessage maps an AMQP message sent to /messages/devicebound to the
// device it is for and the queued message.
func c2dMessage(msg *amqp.Message) (string, c2d.Message, error) {
	p := msg.Properties
	if p == nil || p.To == "" {
		return "", c2d.Message{}, errcode.New(errcode.ArgumentInvalid, "The message has no 'to' property naming /devices/{deviceId}/messages/devicebound.")
	}
	deviceID, err := deviceOf(p.To)
	if err != nil {
		return "", c2d.Message{}, err
	}
	m := c2d.Message{
		MessageID:       idString(p.MessageID),
		CorrelationID:   idString(p.CorrelationID),
		UserID:          string(p.UserID),
		ContentType:     string(p.ContentType),
		ContentEncoding: string(p.ContentEncoding),
		ExpiryTime:      p.AbsoluteExpiryTime,
		Body:            messageBody(msg),
	}
	for k, v := range msg.ApplicationProperties {
		if strings.EqualFold(k, "iothub-ack") {
			m.Ack = fmt.Sprint(v)
			continue
		}
		if m.Properties == nil {
			m.Properties = map[string]string{}
		}
		m.Properties[k] = propertyString(v)
	}
	return deviceID, m, nil
}

// deviceOf reads the device id out of "/devices/{id}/messages/devicebound".
func deviceOf(to string) (string, error) {
	path := strings.TrimPrefix(linkPath(to), "/")
	segs := strings.Split(path, "/")
	if len(segs) != 4 || !strings.EqualFold(segs[0], "devices") || !strings.EqualFold(segs[2], "messages") || !strings.EqualFold(segs[3], "devicebound") {
		return "", errcode.New(errcode.ArgumentInvalid, "The 'to' property %q is not /devices/{deviceId}/messages/devicebound.", to)
	}
	id, err := url.PathUnescape(segs[1])
	if err != nil || id == "" {
		return "", errcode.New(errcode.ArgumentInvalid, "The 'to' property %q has a badly escaped device id.", to)
	}
	return id, nil
}

// idString renders a message-id of any AMQP type as IoT Hub shows it.
func idString(v any) string {
	switch id := v.(type) {
	case nil:
		return ""
	case string:
		return id
	case uint64:
		return strconv.FormatUint(id, 10)
	case amqp.UUID:
		return id.String()
	case []byte:
		return string(id)
	}
	return fmt.Sprint(v)
}

// propertyString renders an application property value as a string, the
// only type IoT Hub's property bags hold.
func propertyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case amqp.Symbol:
		return string(x)
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
