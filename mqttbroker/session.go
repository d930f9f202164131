package mqttbroker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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
	errIdentityDeleted    = errors.New("the identity was deleted")
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
	slot    *slot  // the identity's; held by the session from admit until finish
	gen     uint64 // the slot's generation when admitted; guarded by slot.mu

	state    sessionState // guarded by slot.mu
	since    time.Time    // when it became the identity's connection; set by establish
	replaced *session     // the connection this one took over; set by establish

	out   outQueue      // asynchronous pushes (notifications, method requests, C2D), in order
	done  chan struct{} // closed when the connection has ended
	timer *time.Timer   // token expiry; touched only on the connection's goroutine

	pub parsedPublish // the publish being processed; see readPublish

	calls pendingCalls // direct-method requests awaiting the device's answer
	c2d   c2dInflight  // cloud-to-device publishes awaiting PUBACK
}

// outbound is one queued PUBLISH: small, so a deep queue costs little
// memory per connection. A packet id makes it QoS 1.
type outbound struct {
	topic    string
	payload  []byte
	packetID uint16
}

func (o outbound) packet() packets.Packet {
	pk := publishPacket(o.topic, o.payload)
	if o.packetID != 0 {
		pk.FixedHeader.Qos = 1
		pk.PacketID = o.packetID
	}
	return pk
}

func newSession(id Identity, modelID string, cl *mqtt.Client, sl *slot, log *slog.Logger) *session {
	return &session{
		key:     id.key(),
		id:      id,
		modelID: modelID,
		cl:      cl,
		log:     log,
		slot:    sl,
		out:     newOutQueue(),
		done:    make(chan struct{}),
		calls:   pendingCalls{m: map[string]chan methodResult{}},
		c2d:     c2dInflight{acks: map[uint16]func(){}},
	}
}

// close ends the connection; mochi's read loop notices and winds it down.
func (s *session) close(reason error) { s.cl.Stop(reason) }

// subscribed reports whether the session holds exactly this filter.
func (s *session) subscribed(filter string) bool {
	_, ok := s.cl.State.Subscriptions.Get(filter)
	return ok
}

// push queues a publish for writeLoop without waiting. A full queue means the
// device has stopped reading; it is disconnected rather than silently missing
// a notification.
func (s *session) push(o outbound) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	if !s.out.add(o) {
		s.log.Info("closing mqtt connection: notification queue full")
		s.close(errSlowConsumer)
		return false
	}
	return true
}

// pushWait queues a publish, waiting for room until ctx ends; for callers
// that can wait (a method call), so a burst of them does not count as a stuck
// connection.
func (s *session) pushWait(ctx context.Context, o outbound) bool {
	for waited := false; ; waited = true {
		select {
		case <-s.done:
			return false
		default:
		}
		if s.out.add(o) {
			if waited {
				s.out.signalRoom() // another caller may be waiting too
			}
			return true
		}
		select {
		case <-s.out.room:
		case <-s.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// writeLoop writes pushed packets until the connection ends.
func (s *session) writeLoop() {
	var batch []outbound
	for {
		select {
		case <-s.done:
			return
		case <-s.out.ready:
		}
		batch = s.out.takeAll(batch[:0])
		for i, o := range batch {
			if err := s.cl.WritePacket(o.packet()); err != nil {
				s.log.Debug("mqtt write failed", "topic", o.topic, "error", err)
				s.close(err)
				return
			}
			batch[i] = outbound{} // the payload is not kept until the next batch
		}
		if cap(batch) > outQueueKeep {
			batch = nil
		}
	}
}

// outQueue is a session's queue of pushes, at most sessionQueue long. It
// grows as pushes arrive rather than holding room for all of them: most
// connections are idle, and a buffered channel that deep cost each one
// more memory than the rest of its session.
type outQueue struct {
	mu    sync.Mutex
	items []outbound
	ready chan struct{} // holds a token while items may be waiting
	room  chan struct{} // gets a token when items are taken
}

// outQueueKeep is the capacity a drained queue keeps; a burst's larger
// arrays go back to the collector.
const outQueueKeep = 8

func newOutQueue() outQueue {
	return outQueue{ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// add appends o unless the queue is full.
func (q *outQueue) add(o outbound) bool {
	q.mu.Lock()
	if len(q.items) >= sessionQueue {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, o)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// takeAll moves every queued item to dst, in order.
func (q *outQueue) takeAll(dst []outbound) []outbound {
	q.mu.Lock()
	took := len(q.items) > 0
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	if cap(q.items) > outQueueKeep {
		q.items = nil
	}
	q.mu.Unlock()
	if took {
		q.signalRoom()
	}
	return dst
}

// signalRoom wakes a caller waiting for room, if there is one.
func (q *outQueue) signalRoom() {
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// publishPacket is a QoS 0 PUBLISH. Responses, notifications and method
// requests go at QoS 0: nothing is redelivered to an offline device anyway
// (it re-reads its twin; a method call fails). Only C2D goes at QoS 1.
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
