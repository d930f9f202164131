package mqttbroker

import (
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
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
	if err := b.deviceFault(s, faults.TwinReads); err != nil {
		b.twinError(s, "twin GET", rid, err)
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
	b.twinRespond(s, rid, publishPacket(twinResponseTopic(200, rid), body))
}

// twinPatchReported applies a reported patch. It is applied even without the
// response subscription (the device asked for it); only the answer is lost.
func (b *Broker) twinPatchReported(s *session, rid string, patch []byte) {
	if err := b.deviceFault(s, faults.TwinUpdates); err != nil {
		b.twinError(s, "twin PATCH reported", rid, err)
		return
	}
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

// twinRespond sends a twin response, held back while a delayTwin fault is
// in effect for the identity.
func (b *Broker) twinRespond(s *session, rid string, pk packets.Packet) {
	if !s.subscribed(filterTwinResponses) {
		s.log.Debug("twin response dropped: not subscribed to "+filterTwinResponses, "rid", rid)
		return
	}
	if d := b.faults.TwinDelay(s.id.DeviceID, s.id.ModuleID); d > 0 {
		s.log.Debug("twin response delayed by an injected fault", "rid", rid, "delay", d)
		b.sendLater(s, d, pk)
		return
	}
	s.write(pk)
}
