package amqphub

import (
	"net/url"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// endpoint is what a device-side link is for.
type endpoint int

const (
	endpointEvents  endpoint = iota // messages/events: telemetry in, module inputs out
	endpointC2D                     // messages/devicebound
	endpointMethods                 // methods/devicebound
	endpointTwin                    // twin
)

// identity names a device or a module.
type identity struct {
	deviceID, moduleID string
}

func (id identity) key() string {
	if id.moduleID == "" {
		return id.deviceID
	}
	return id.deviceID + "/" + id.moduleID
}

// identityPath reads the /devices/{id}[/modules/{moduleId}] a path starts
// with (ids percent-encoded, as the SDKs escape them) and returns the
// segments after it. "modules" names a module only when an id follows.
func identityPath(path string) (identity, []string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) < 2 || !strings.EqualFold(segs[0], "devices") {
		return identity{}, nil, false
	}
	var id identity
	var err error
	if id.deviceID, err = url.PathUnescape(segs[1]); err != nil || id.deviceID == "" {
		return identity{}, nil, false
	}
	rest := segs[2:]
	if len(rest) >= 2 && strings.EqualFold(rest[0], "modules") {
		if id.moduleID, err = url.PathUnescape(rest[1]); err != nil || id.moduleID == "" {
			return identity{}, nil, false
		}
		rest = rest[2:]
	}
	return id, rest, true
}

// deviceAddress reads a device-side address: /devices/{id}[/modules/{mid}]
// followed by messages/events, messages/devicebound, methods/devicebound or
// twin.
func deviceAddress(path string) (identity, endpoint, error) {
	id, rest, ok := identityPath(path)
	if ok {
		switch strings.ToLower(strings.Join(rest, "/")) {
		case "messages/events":
			return id, endpointEvents, nil
		case "messages/devicebound":
			return id, endpointC2D, nil
		case "methods/devicebound":
			return id, endpointMethods, nil
		case "twin":
			return id, endpointTwin, nil
		}
	}
	return identity{}, 0, errcode.New(errcode.ArgumentInvalid, "%q is not a device endpoint: /devices/{id}[/modules/{moduleId}]/messages/events, messages/devicebound, methods/devicebound or twin.", path)
}

// authorizeDevice checks that the connection may act as id: a claim (CBS or
// SASL PLAIN) the hub accepts for it, as MQTT's CONNECT password is checked
// (the identity's keys, or a policy with DeviceConnect, the device enabled),
// else the TLS client certificate, checked as MQTT checks it.
func (s *Server) authorizeDevice(c *amqp.ConnInfo, id identity) *amqp.Error {
	all := allClaims(c)
	last, ok := accepted(all, s.now(), func(token string) error {
		_, err := s.hub.AuthenticateDevice(id.deviceID, id.moduleID, token)
		return err
	})
	if ok {
		return nil
	}
	if st := c.TLS(); st != nil && len(st.PeerCertificates) > 0 && len(all) == 0 {
		err := s.hub.AuthenticateDeviceX509(id.deviceID, id.moduleID, st.PeerCertificates)
		if err == nil {
			return nil
		}
		last = err
	}
	if last == nil {
		last = errcode.New(errcode.IotHubUnauthorized, "No token covers %s: put one on $cbs first, or connect with the device's X.509 certificate.", id.key())
	}
	return &amqp.Error{Condition: amqp.CondUnauthorizedAccess, Description: errcode.From(last).AMQPDescription()}
}

// authorityEnds is when the connection's authority to act as id ends: the
// latest expiry of its tokens the hub accepts for id, or zero when it rests
// on the TLS client certificate, which (as for MQTT) is checked once, at
// the handshake.
func (s *Server) authorityEnds(c *amqp.ConnInfo, id identity) time.Time {
	var end time.Time
	for _, cl := range allClaims(c) {
		if _, err := s.hub.AuthenticateDevice(id.deviceID, id.moduleID, cl.token); err == nil && cl.expires.After(end) {
			end = cl.expires
		}
	}
	return end
}

// attachDeviceIncoming routes a device's sender: telemetry, method
// answers, twin requests.
func (s *Server) attachDeviceIncoming(l *amqp.Link, path string) (amqp.Receiver, *amqp.Error) {
	id, ep, err := deviceAddress(path)
	if err != nil {
		return nil, amqp.NewError(amqp.CondNotFound, "%s", errcode.From(err).AMQPDescription())
	}
	if e := s.authorizeDevice(l.Conn, id); e != nil {
		return nil, e
	}
	var recv amqp.Receiver
	switch ep {
	case endpointEvents:
		recv = telemetryReceiver{s: s, id: id}
	case endpointMethods:
		recv = methodResponses{s: s, id: id}
	case endpointTwin:
		recv = twinRequests{s: s, id: id, conn: l.Conn}
	default:
		return nil, amqp.NewError(amqp.CondNotAllowed, "%s takes no messages from the device: attach a receiver to it.", path)
	}
	s.attached(l, id, ep, nil)
	return recv, nil
}

// attachDeviceOutgoing routes a device's receiver: cloud-to-device
// messages, method requests, twin replies and notifications. A module's
// receiver on messages/events is its input-message link (the Node SDK
// attaches it there), which IoT Hub, unlike IoT Edge, never feeds.
func (s *Server) attachDeviceOutgoing(snd *amqp.Sender, path string) *amqp.Error {
	id, ep, err := deviceAddress(path)
	if err != nil {
		return amqp.NewError(amqp.CondNotFound, "%s", errcode.From(err).AMQPDescription())
	}
	if e := s.authorizeDevice(snd.Conn, id); e != nil {
		return e
	}
	switch ep {
	case endpointC2D:
		s.attachC2D(snd, id)
	case endpointMethods:
		s.attached(snd.Link, id, ep, func(il *identityLinks) { il.methods = append(il.methods, snd) })
	case endpointTwin:
		s.attachTwinSender(snd, id)
	case endpointEvents:
		if id.moduleID == "" {
			return amqp.NewError(amqp.CondNotAllowed, "%s takes the device's messages: attach a sender to it.", path)
		}
		s.attached(snd.Link, id, ep, nil)
	}
	return nil
}
