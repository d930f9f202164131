package amqphub

import (
	"context"
	"strings"
	"time"

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
	snd  *amqp.Sender
	conn *amqp.ConnInfo
	out  chan *amqp.Message
}

// desiredKey keys, in a connection's values, whether the identity asked
// for desired-property notifications on it: the subscription belongs to
// the connection's twin channel, whichever of its links came first.
type desiredKey struct{ id identity }

// replyLinkWait bounds how long a twin reply waits for its receiver link,
// for clients that send a request as soon as their own sender attaches.
const replyLinkWait = 5 * time.Second

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
	ts := r.s.awaitTwinSender(ctx, r.id, r.conn)
	if ts == nil {
		r.s.log.Debug("twin reply dropped: no twin receiver link", "device", r.id.deviceID, "module", r.id.moduleID)
		return &amqp.Accepted{}
	}
	ts.send(r.s, reply)
	return &amqp.Accepted{}
}

// awaitTwinSender returns the connection's newest twin link for id,
// waiting up to replyLinkWait for one to attach.
func (s *Server) awaitTwinSender(ctx context.Context, id identity, conn *amqp.ConnInfo) *twinSender {
	deadline := time.NewTimer(replyLinkWait)
	defer deadline.Stop()
	for {
		attached := s.devs.attachedSignal()
		if senders := s.twinSenders(id, conn); len(senders) > 0 {
			return senders[0]
		}
		select {
		case <-attached:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
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
		if op == "PUT" {
			conn.SetValue(desiredKey{id}, true)
		} else {
			conn.SetValue(desiredKey{id}, nil)
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

// NotifyDesired sends a desired-properties change to the newest twin link
// of each connection on which the identity subscribed: no correlation-id,
// the patch as body.
func (s *Server) NotifyDesired(deviceID, moduleID string, version int64, body []byte) {
	id := identity{deviceID, moduleID}
	notified := map[*amqp.ConnInfo]bool{}
	for _, t := range s.twinSenders(id, nil) { // newest first: one per connection
		if notified[t.conn] || t.conn.Value(desiredKey{id}) == nil {
			continue
		}
		notified[t.conn] = true
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
