package mqttbroker

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iothub-emulator/iothub-emulator/faults"
)

// Why a fault closed a connection.
var (
	errFaultInjected = errors.New("fault injected")
	errDeviceFault   = errors.New("operation failed by an injected fault or throttle")
)

// refuseByFault refuses a CONNECT, before authentication, that an injected
// fault or the tier's connection rate turns away. The refusal is sent here,
// since the authentication hook can only answer "not authorized".
func (b *Broker) refuseByFault(cl *mqtt.Client, pk packets.Packet) error {
	refuse := func(code packets.Code, reason string) error {
		b.log.Info("mqtt connection refused", "client", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote, "reason", reason)
		_ = b.server.SendConnack(cl, code, false, nil)
		return code
	}
	if deviceID, moduleID, err := parseClientID(pk.Connect.ClientIdentifier); err == nil {
		if code, refused := b.faults.ConnectRefusal(deviceID, moduleID); refused {
			if code == faults.ConnackNotAuthorized {
				return refuse(packets.ErrBadUsernameOrPassword, "injected fault: not authorized")
			}
			return refuse(packets.ErrServerUnavailable, "injected fault: server unavailable")
		}
	}
	if err := b.faults.Admit(faults.DeviceConnections); err != nil {
		return refuse(packets.ErrServerUnavailable, err.Error())
	}
	return nil
}

// deviceFault is why an operation of class op by the session's identity
// fails now (a throttleDevice or quotaExceeded fault on the identity, a
// throttle on the class, the tier's rate), or nil.
func (b *Broker) deviceFault(s *session, op faults.Operation) error {
	if err := b.faults.DeviceError(s.id.DeviceID, s.id.ModuleID); err != nil {
		return err
	}
	return b.faults.Admit(op)
}

// messageFault acts on IoT Hub's fault-injection properties of a telemetry
// message, once the message has been acknowledged: after its delay the
// connection is closed and any lasting part (refused connects, failing
// operations) takes effect on the identity for its duration. A fault the
// emulator cannot honour is logged and ignored; the message was telemetry
// all the same.
func (b *Broker) messageFault(s *session, props map[string]string) {
	m, ok, err := faults.ParseMessageFault(props)
	if !ok {
		return
	}
	if err != nil {
		s.log.Info("fault injection ignored", "reason", err.Error())
		return
	}
	eff := m.Type.MQTTEffect()
	log := s.log.With("fault", string(m.Type), "delay", m.Delay, "duration", m.Duration, "close_reason", m.CloseReason)
	if eff.Window != "" && m.Duration > 0 {
		ft, err := b.faults.Add(faults.Spec{
			Kind: eff.Window, DeviceID: s.id.DeviceID, ModuleID: s.id.ModuleID,
			ConnackCode: eff.ConnackCode, StartIn: m.Delay, Duration: m.Duration,
		})
		if err != nil {
			log.Info("fault injection ignored", "reason", err.Error())
			return
		}
		log = log.With("window", ft.ID)
	}
	if eff.Close != faults.CloseNone {
		ft, err := b.faults.ScheduleDrop(s.id.DeviceID, s.id.ModuleID, m.Delay)
		if err != nil {
			log.Info("fault injection ignored", "reason", err.Error())
			return
		}
		b.dropLater(s.key, ft.ID, m.Delay, eff.Close, fmt.Errorf("%w: %s", errFaultInjected, m.Type))
	}
	if eff == (faults.Effect{}) {
		log.Info("fault injection has no effect over MQTT")
		return
	}
	log.Info("fault injected", "close", eff.Close.String())
}

// dropLater closes the identity's connection (whichever is current then)
// after delay, unless the scheduled drop was cleared meanwhile. It runs on a
// connection's goroutine, whose count in b.wg is held.
func (b *Broker) dropLater(key, id string, delay time.Duration, mode faults.CloseMode, reason error) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.ctx.Done():
			return
		}
		if !b.faults.ClaimDrop(id) {
			return // cleared
		}
		s := b.current(key)
		if s == nil {
			b.log.Debug("injected drop: not connected", "client", key)
			return
		}
		s.log.Info("closing mqtt connection: "+reason.Error(), "mode", mode.String())
		if mode == faults.CloseAbort {
			if tc, ok := s.cl.Net.Conn.(*trackedConn); ok {
				tc.abort.Store(true)
			}
		}
		s.close(reason)
	}()
}

// sendLater writes pk to the session after delay, unless the connection
// ends first. It runs on the connection's goroutine (see dropLater).
func (b *Broker) sendLater(s *session, delay time.Duration, pk packets.Packet) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			s.push(outbound{topic: pk.TopicName, payload: pk.Payload})
		case <-s.done:
		case <-b.ctx.Done():
		}
	}()
}
