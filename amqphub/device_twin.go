package amqphub

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The twin travels on a link pair on /devices/{id}/twin: requests carry
// message-annotations operation and resource and a correlation-id; replies
// carry that correlation-id and annotations status and version.
const (
	twinResourceReported = "/properties/reported"
	twinResourceDesired  = "/notifications/twin/properties/desired"
	twinBuffer           = 64
)

// twinSender is the link replies and desired-property notifications go
// out on, in order, off the callers' goroutines.
type twinSender struct {
	snd        *amqp.Sender
	conn       *amqp.ConnInfo
	subscribed atomic.Bool // PUT on the desired notifications resource
	out        chan *amqp.Message
}

func (s *Server) attachTwinSender(snd *amqp.Sender, id identity) {
	ts := &twinSender{snd: snd, conn: snd.Conn, out: make(chan *amqp.Message, twinBuffer)}
	s.attached(snd.Link, id, endpointTwin, func(il *identityLinks) { il.twins = append(il.twins, ts) })
	s.goLink(func() {
		ctx := snd.Context()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-ts.out:
				if err := snd.Post(ctx, m); err != nil {
					return
				}
			}
		}
	})
}

// send queues m on the link without blocking; a link so far behind that
// its buffer is full loses the message, as a stalled MQTT client would.
func (ts *twinSender) send(s *Server, m *amqp.Message) {
	select {
	case ts.out <- m:
	default:
		s.log.Warn("twin message dropped: the device is not reading its twin link", "link", ts.snd.Name)
	}
}

// twinSenders returns the identity's twin links on conn (all of them when
// conn is nil), newest first.
func (s *Server) twinSenders(id identity, conn *amqp.ConnInfo) []*twinSender {
	var out []*twinSender
	s.devs.lookup(id, func(il *identityLinks) {
		for i := len(il.twins) - 1; i >= 0; i-- {
			if t := il.twins[i]; conn == nil || t.conn == conn {
				out = append(out, t)
			}
		}
	})
	return out
}

// twinRequests takes an identity's twin requests on its twin sender link.
type twinRequests struct {
	s    *Server
	id   identity
	conn *amqp.ConnInfo
}

func (r twinRequests) Receive(ctx context.Context, msg *amqp.Message) amqp.DeliveryState {
	reply := r.s.twinRequest(ctx, r.id, r.conn, msg)
	if msg.Properties != nil {
		reply.Properties = &amqp.Properties{CorrelationID: msg.Properties.CorrelationID}
	}
	senders := r.s.twinSenders(r.id, r.conn)
	if len(senders) == 0 {
		r.s.log.Debug("twin reply dropped: no twin receiver link", "device", r.id.deviceID, "module", r.id.moduleID)
		return &amqp.Accepted{}
	}
	senders[0].send(r.s, reply)
	return &amqp.Accepted{}
}

// twinRequest runs one request with the hub's twin rules, the ones the
// MQTT twin topics use, and returns the reply without its correlation-id.
func (s *Server) twinRequest(ctx context.Context, id identity, conn *amqp.ConnInfo, msg *amqp.Message) *amqp.Message {
	op := strings.ToUpper(annotationString(msg.Annotations["operation"]))
	resource := annotationString(msg.Annotations["resource"])
	switch {
	case op == "GET":
		twin, err := s.hub.DeviceTwin(ctx, id.deviceID, id.moduleID)
		if err != nil {
			return s.twinError(err)
		}
		return twinReply(200, nil, twin)
	case op == "PATCH" && strings.EqualFold(resource, twinResourceReported):
		version, err := s.hub.PatchReported(ctx, id.deviceID, id.moduleID, messageBody(msg))
		if err != nil {
			return s.twinError(err)
		}
		return twinReply(204, &version, nil)
	case (op == "PUT" || op == "DELETE") && strings.EqualFold(resource, twinResourceDesired):
		for _, t := range s.twinSenders(id, conn) {
			t.subscribed.Store(op == "PUT")
		}
		return twinReply(200, nil, nil)
	case op == "":
		return s.twinError(errcode.New(errcode.ArgumentInvalid, "The twin request has no 'operation' message annotation."))
	}
	return s.twinError(errcode.New(errcode.ArgumentInvalid, "The twin operation %s on resource %q is not supported.", op, resource))
}

// twinError is an error reply: the error's HTTP status and IoT Hub's JSON
// error body, as the MQTT twin topics answer.
func (s *Server) twinError(err error) *amqp.Message {
	e := errcode.From(err)
	return twinReply(e.Code.HTTPStatus(), nil, e.MQTTBody(s.now()))
}

func twinReply(status int, version *int64, body []byte) *amqp.Message {
	ann := map[amqp.Symbol]any{"status": int32(status)}
	if version != nil {
		ann["version"] = *version
	}
	m := &amqp.Message{Annotations: ann}
	if body != nil {
		m.Data = [][]byte{body}
	}
	return m
}

// NotifyDesired sends a desired-properties change to every twin link of
// the identity that subscribed: no correlation-id, the patch as body.
func (s *Server) NotifyDesired(deviceID, moduleID string, version int64, body []byte) {
	for _, t := range s.twinSenders(identity{deviceID, moduleID}, nil) {
		if !t.subscribed.Load() {
			continue
		}
		t.send(s, &amqp.Message{
			Annotations: map[amqp.Symbol]any{"resource": twinResourceDesired, "version": version},
			Data:        [][]byte{body},
		})
	}
}

// annotationString reads a string or symbol annotation.
func annotationString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case amqp.Symbol:
		return string(x)
	}
	return ""
}
