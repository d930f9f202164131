package mqttbroker

import (
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/mochi-mqtt/server/v2/packets"
)

// twinGet answers $iothub/twin/GET. IoT Hub requires the $iothub/twin/res/#
// subscription first; without it there is nobody to answer, so the hub is not
// even asked.
func (b *Broker) twinGet(s *session, rid string) {
	if !s.subscribed(filterTwinResponses) {
		s.log.Debug("twin GET not answered: not subscribed to "+filterTwinResponses, "rid", rid)
		return
	}
	ctx, cancel := b.hubContext()
	body, err := b.hub.GetTwin(ctx, s.id)
	cancel()
	if err != nil {
		b.twinError(s, "twin GET", rid, err)
		return
	}
	s.log.Debug("twin GET", "rid", rid, "status", 200)
	s.write(publishPacket(twinResponseTopic(200, rid), body))
}

// twinPatchReported applies a reported patch. It is applied even without the
// response subscription (the device asked for it); only the answer is lost.
func (b *Broker) twinPatchReported(s *session, rid string, patch []byte) {
	ctx, cancel := b.hubContext()
	version, err := b.hub.PatchReported(ctx, s.id, patch)
	cancel()
	if err != nil {
		b.twinError(s, "twin PATCH reported", rid, err)
		return
	}
	s.log.Debug("twin PATCH reported", "rid", rid, "status", 204, "version", version)
	b.twinRespond(s, rid, publishPacket(twinPatchResponseTopic(rid, version), nil))
}

// twinError answers with the error's HTTP status and IoT Hub's JSON error
// body: Node ignores the status and fails the request only on errorCode.
func (b *Broker) twinError(s *session, op, rid string, err error) {
	e := errcode.From(err)
	s.log.Debug(op, "rid", rid, "status", e.Code.HTTPStatus(), "error", err)
	b.twinRespond(s, rid, publishPacket(twinResponseTopic(e.Code.HTTPStatus(), rid), e.MQTTBody(b.now())))
}

func (b *Broker) twinRespond(s *session, rid string, pk packets.Packet) {
	if !s.subscribed(filterTwinResponses) {
		s.log.Debug("twin response dropped: not subscribed to "+filterTwinResponses, "rid", rid)
		return
	}
	s.write(pk)
}
