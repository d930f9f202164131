package mqttbroker

import (
	"bytes"
	"errors"
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iothub-emulator/iothub-emulator/faults"
)

// hook plugs IoT Hub's rules into mochi. Every hook runs on the connection's
// own goroutine.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "iothub" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnPacketProcessed,
		mqtt.OnPublish, mqtt.OnPublished, mqtt.OnWill, mqtt.OnPacketEncode:
		return true
	}
	return false
}

func sessionOf(cl *mqtt.Client) *session {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		return tc.sess.Load()
	}
	return nil
}

// OnConnect refuses MQTT 5 (mochi itself refuses 3.1), caps the keep-alive
// as IoT Hub does, and refuses Device Provisioning Service clients and what
// injected faults and throttles refuse.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if pk.ProtocolVersion != 4 {
		h.b.log.Info("mqtt connection refused", "client", pk.Connect.ClientIdentifier,
			"remote", cl.Net.Remote, "reason", "only MQTT 3.1.1 is supported", "protocol_version", pk.ProtocolVersion)
		_ = h.b.server.SendConnack(cl, packets.ErrUnsupportedProtocolVersion, false, nil)
		return packets.ErrUnsupportedProtocolVersion
	}
	if cl.State.Keepalive == 0 || cl.State.Keepalive > maxKeepalive {
		cl.State.Keepalive = maxKeepalive
	}
	if isDPS, err := h.b.dpsConnect(cl, pk); isDPS {
		return err
	}
	return h.b.refuseByFault(cl, pk)
}

// OnPacketEncode keeps CONNACKs valid for MQTT 3.1.1: mochi passes its MQTT 5
// reason codes (a malformed CONNECT, say) through unchanged, and 3.1.1 knows
// only 0 to 5. Any refusal without a 3.1.1 code becomes "not authorized".
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion < 5 && pk.ReasonCode > packets.Err3NotAuthorized.Code {
		pk.ReasonCode = packets.Err3NotAuthorized.Code
	}
	return pk
}

// OnConnectAuthenticate parses the CONNECT and asks the hub. Returning false
// makes mochi answer CONNACK 5 (not authorized) and close.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	b := h.b
	tc, ok := cl.Net.Conn.(*trackedConn)
	if !ok {
		return false
	}
	if _, _, isDPS := parseDPSUsername(string(pk.Connect.Username), pk.Connect.ClientIdentifier); isDPS {
		return b.authenticateDPS(cl, tc, pk)
	}
	req, err := connectRequest(pk, cl.Net.Remote)
	log := b.log.With("client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "listener", cl.Net.Listener)
	if err != nil {
		log.Info("mqtt connection refused", "reason", err.Error())
		return false
	}
	req.Certificates = peerCertificates(cl.Net.Conn)
	// The slot is held across authentication, so a Disconnect meanwhile is
	// seen by admit; on success the session takes it over.
	sl := b.acquireSlot(identityKey(req.DeviceID, req.ModuleID))
	admitted := false
	defer func() {
		if !admitted {
			b.releaseSlot(sl)
		}
	}()
	gen := sl.generation()

	ctx, cancel := b.hubContext()
	id, err := b.hub.Authenticate(ctx, req)
	cancel()
	if err != nil {
		// A refused credential is a setup mistake worth seeing at the
		// default level: the device only learns "not authorized".
		log.Warn("mqtt connection refused: not authorized", "reason", err.Error(), "credential", credentialKind(req))
		return false
	}
	if id.DeviceID != req.DeviceID || id.ModuleID != req.ModuleID {
		log.Info("mqtt connection refused", "reason", "hub authenticated a different identity",
			"device_id", id.DeviceID, "module_id", id.ModuleID)
		return false
	}
	if pk.Connect.WillFlag {
		if err := checkWillTopic(id, pk.Connect.WillTopic); err != nil {
			log.Info("mqtt connection refused", "reason", err.Error())
			return false
		}
	}
	s := newSession(id, req.ModelID, cl, sl, log)
	if !b.admit(s, gen) {
		log.Info("mqtt connection refused", "reason", "identity disconnected by the hub during authentication")
		return false
	}
	admitted = true
	tc.sess.Store(s)
	return true
}

func connectRequest(pk packets.Packet, remote string) (ConnectRequest, error) {
	clientID := pk.Connect.ClientIdentifier
	deviceID, moduleID, err := parseClientID(clientID)
	if err != nil {
		return ConnectRequest{}, err
	}
	username := string(pk.Connect.Username)
	info, err := parseUsername(username, clientID)
	if err != nil {
		return ConnectRequest{}, err
	}
	return ConnectRequest{
		ClientID:   clientID,
		Username:   username,
		Password:   pk.Connect.Password,
		Host:       info.Host,
		DeviceID:   deviceID,
		ModuleID:   moduleID,
		APIVersion: info.APIVersion,
		ModelID:    info.ModelID,
		RemoteAddr: remote,
	}, nil
}

// checkWillTopic: a Will is telemetry, so it must name the identity's own
// telemetry topic.
func checkWillTopic(id Identity, topic string) error {
	t, err := checkPublish(id, topic)
	if err == nil && t.Kind != kindTelemetry {
		err = errors.New("not a telemetry topic")
	}
	if err != nil {
		return fmt.Errorf("will topic %q: %w", topic, err)
	}
	return nil
}

// OnSessionEstablish runs after authentication, before mochi takes over an
// existing session and sends the CONNACK.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if s := sessionOf(cl); s != nil {
		h.b.establish(s)
	}
}

// OnSessionEstablished runs after the CONNACK, with any clean-session=0
// subscriptions already inherited.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if s := sessionOf(cl); s != nil {
		h.b.started(s)
	}
}

// OnACLCheck is mochi's topic ACL. Writes: the identity's own device-to-hub
// topics. Reads: the documented subscribe filters only. mochi also asks here
// (write=false, with a topic name) before routing any publish to a
// subscriber; no topic name equals an allowed filter, so nothing published by
// one client can ever reach another.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if d := dpsSessionOf(cl); d != nil {
		if write {
			return dpsTopicAllowed(topic)
		}
		return topic == dpsResponseFilter
	}
	s := sessionOf(cl)
	if s == nil {
		return false
	}
	if write {
		return s.publishOf(topic).err == nil
	}
	return allowedFilter(s.id, topic)
}

// OnPacketRead sees every inbound packet first. A forbidden publish closes the
// connection here, as IoT Hub does: past this point mochi would silently drop a
// QoS 0 publish the ACL refuses, or one whose topic has a wildcard.
//
// A PUBACK here can only acknowledge a cloud-to-device message (the broker
// sends nothing else at QoS 1), and is matched to it by packet id; see
// c2dInflight for why mochi's own inflight tracking is not used.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
	case packets.Puback:
		if s := sessionOf(cl); s != nil {
			h.b.c2dAcknowledged(s, pk.PacketID)
		}
		return pk, nil
	default:
		return pk, nil
	}
	if d := dpsSessionOf(cl); d != nil {
		if pk.FixedHeader.Qos > 1 || !dpsTopicAllowed(pk.TopicName) {
			d.log.Info("closing dps connection: publish refused", "topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
			return pk, packets.ErrRejectPacket
		}
		return pk, nil
	}
	s := sessionOf(cl)
	if s == nil {
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Qos > 1 {
		s.log.Info("closing mqtt connection: QoS 2 publish", "topic", pk.TopicName)
		return pk, packets.ErrRejectPacket
	}
	if err := s.readPublish(pk.TopicName).err; err != nil {
		s.log.Info("closing mqtt connection: publish refused", "topic", pk.TopicName, "reason", err.Error())
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnPacketProcessed closes a connection that asked for a forbidden filter,
// once mochi has answered its SUBSCRIBE (0x80 for that filter). After an
// allowed SUBSCRIBE (its SUBACK sent) the identity may have become reachable
// for direct methods or C2D: waiters are woken and the hub told.
func (h *hook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	if d := dpsSessionOf(cl); d != nil {
		for _, sub := range pk.Filters {
			if sub.Filter != dpsResponseFilter {
				d.log.Info("closing dps connection: subscribe refused", "filter", sub.Filter)
				d.cl.Stop(errForbiddenSubscribe)
				return
			}
		}
		return
	}
	s := sessionOf(cl)
	if s == nil {
		return
	}
	for _, sub := range pk.Filters {
		if !allowedFilter(s.id, sub.Filter) {
			s.log.Info("closing mqtt connection: subscribe refused", "filter", sub.Filter)
			s.close(errForbiddenSubscribe)
			return
		}
	}
	s.log.Debug("mqtt subscribe", "filters", len(pk.Filters))
	h.b.subscribed(s, pk.Filters)
}

// OnPublish runs before mochi acknowledges a publish. Telemetry is handed to
// the hub here, so a QoS 1 PUBACK means the hub took the message; a method
// response is handed to the call waiting for it. Every publish is then marked
// ignored: mochi acknowledges it but never routes or retains it.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if d := dpsSessionOf(cl); d != nil {
		return pk, packets.CodeSuccessIgnore // answered in OnPublished
	}
	s := sessionOf(cl)
	if s == nil {
		return pk, packets.ErrRejectPacket
	}
	p := s.publishOf(pk.TopicName)
	if p.err != nil { // OnPacketRead has closed the connection already
		s.close(errRejectedPublish)
		return pk, packets.ErrRejectPacket
	}
	t := p.t
	switch t.Kind {
	case kindTelemetry:
		err := h.b.deviceFault(s, faults.D2CSends)
		if err == nil {
			err = h.b.telemetry(s, p, pk.Payload, pk.FixedHeader.Retain, false)
		}
		if err != nil {
			s.log.Info("closing mqtt connection: telemetry refused", "reason", err.Error())
			s.close(fmt.Errorf("%w: %w", errRejectedPublish, err))
			return pk, packets.ErrRejectPacket
		}
	case kindMethodResponse:
		// The response has no error channel: a device whose operations
		// fail loses its connection, and the caller gets DeviceNotOnline.
		if err := h.b.faults.DeviceError(s.id.DeviceID, s.id.ModuleID); err != nil {
			s.log.Info("closing mqtt connection: method response refused", "reason", err.Error())
			s.close(fmt.Errorf("%w: %w", errDeviceFault, err))
			return pk, packets.ErrRejectPacket
		}
		h.b.methodResponse(s, t, pk.Payload)
	}
	return pk, packets.CodeSuccessIgnore
}

// OnPublished runs after the PUBACK: twin requests are answered here, so the
// response never overtakes the acknowledgement of its request, and
// fault-injection telemetry is acted on.
func (h *hook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if d := dpsSessionOf(cl); d != nil {
		h.b.dpsServe(d, pk.TopicName, pk.Payload)
		return
	}
	s := sessionOf(cl)
	if s == nil {
		return
	}
	p := s.publishOf(pk.TopicName)
	if p.err != nil {
		return
	}
	switch p.t.Kind {
	case kindTwinGet:
		h.b.twinGet(s, p.t.RID)
	case kindTwinPatchReported:
		h.b.twinPatchReported(s, p.t.RID, pk.Payload)
	case kindTelemetry:
		// A fault-injection message acts only once acknowledged, so its
		// PUBACK is never lost to the fault it asks for.
		h.b.messageFault(s, p.props)
	}
}

// OnWill hands a Will (sent when the connection is lost without DISCONNECT)
// to the hub as telemetry. The Will mochi then publishes is never retained,
// and the ACL keeps it from every subscriber.
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	retain := will.Retain
	will.Retain = false
	s := sessionOf(cl)
	if s == nil {
		return will, nil
	}
	p := parsePublish(s.id, will.TopicName)
	if p.err != nil || p.t.Kind != kindTelemetry {
		return will, nil
	}
	if err := h.b.telemetry(s, p, bytes.Clone(will.Payload), retain, true); err != nil {
		s.log.Info("will message refused", "reason", err.Error())
	}
	return will, nil
}
