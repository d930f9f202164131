package mqttbroker

import (
	"errors"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Why the broker closed a connection (recorded as mochi's stop cause and logged).
var (
	errTakenOver          = errors.New("a newer connection for the same identity took over")
	errTokenExpired       = errors.New("SAS token expired")
	errDisconnectedByHub  = errors.New("disconnected by the hub")
	errSlowConsumer       = errors.New("connection not reading its notifications")
	errForbiddenSubscribe = errors.New("subscribe to a filter the identity may not use")
	errRejectedPublish    = errors.New("publish refused")
)

type sessionState int

const (
	statePending sessionState = iota // authenticated, CONNACK not yet sent
	stateLive                        // established: the identity's current connection
	stateDone                        // ended
)

// session is one authenticated connection.
type session struct {
	key     string
	id      Identity
	modelID string
	cl      *mqtt.Client
	log     *slog.Logger

	state    sessionState // guarded by the identity's slot.mu
	replaced *session     // the connection this one took over; set by establish

	out   chan packets.Packet // asynchronous pushes (desired notifications), in order
	done  chan struct{}       // closed when the connection has ended
	timer *time.Timer         // token expiry; touched only on the connection's goroutine
}

func newSession(id Identity, modelID string, cl *mqtt.Client, log *slog.Logger) *session {
	return &session{
		key:     id.key(),
		id:      id,
		modelID: modelID,
		cl:      cl,
		log:     log,
		out:     make(chan packets.Packet, sessionQueue),
		done:    make(chan struct{}),
	}
}

// close ends the connection; mochi's read loop notices and winds it down.
func (s *session) close(reason error) { s.cl.Stop(reason) }

// subscribed reports whether the session holds exactly this filter.
func (s *session) subscribed(filter string) bool {
	_, ok := s.cl.State.Subscriptions.Get(filter)
	return ok
}

// push queues a packet for writeLoop without waiting. A full queue means the
// device has stopped reading; it is disconnected rather than silently missing
// a notification.
func (s *session) push(pk packets.Packet) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.out <- pk:
		return true
	default:
		s.log.Info("closing mqtt connection: notification queue full")
		s.close(errSlowConsumer)
		return false
	}
}

// writeLoop writes pushed packets until the connection ends.
func (s *session) writeLoop() {
	for {
		select {
		case <-s.done:
			return
		case pk := <-s.out:
			if err := s.cl.WritePacket(pk); err != nil {
				s.log.Debug("mqtt write failed", "topic", pk.TopicName, "error", err)
				s.close(err)
				return
			}
		}
	}
}

// publishPacket is a QoS 0 PUBLISH. Responses and notifications go at QoS 0:
// nothing is redelivered to an offline device anyway (it re-reads its twin).
func publishPacket(topic string, payload []byte) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   topic,
		Payload:     payload,
	}
}

// write sends a packet on the caller's goroutine.
func (s *session) write(pk packets.Packet) {
	if err := s.cl.WritePacket(pk); err != nil {
		s.log.Debug("mqtt write failed", "topic", pk.TopicName, "error", err)
		s.close(err)
	}
}
