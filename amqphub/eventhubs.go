package amqphub

import (
	"context"
	"fmt"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
)

// The start filter of an Event Hubs receiver (a selector filter).
const (
	selectorFilterName = amqp.Symbol("apache.org:selector-filter:string")
	selectorFilterCode = uint64(0x0000468C00000004)
	epochProperty      = amqp.Symbol("com.microsoft:epoch")
	eventBatch         = 100 // events taken from the log at a time per receiver
	// eventLinger is how long a receiver that has caught up with its
	// partition waits before taking what arrived meanwhile: far below what
	// an Event Hubs consumer notices, long enough to batch a busy partition.
	eventLinger = 5 * time.Millisecond
)

// isManagement reports an address of the Event Hubs $management node.
func (s *Server) isManagement(addr string) bool {
	a, err := s.eh.ParseAddress(addr)
	return err == nil && a.Management
}

func ehError(err error) *amqp.Error {
	return &amqp.Error{Condition: amqp.Symbol(eventhubs.Condition(err)), Description: err.Error()}
}

// attachPartition serves a receiver on
// {entity}/ConsumerGroups/{cg}/Partitions/{n}: from the start its filter
// names, every event of the partition in order, as link credit allows.
func (s *Server) attachPartition(snd *amqp.Sender, addr string) *amqp.Error {
	a, err := s.eh.ParseAddress(addr)
	if err != nil {
		return ehError(err)
	}
	if err := s.authorize(snd.Conn, linkPath(addr)); err != nil {
		return err
	}
	pos, err := startPosition(snd.Source)
	if err != nil {
		return ehError(err)
	}
	var epoch *int64
	if v, ok := snd.Properties[epochProperty]; ok {
		e, ok := asInt64(v)
		if !ok {
			return amqp.NewError(amqp.CondInvalidField, "%s must be a long, not %T", epochProperty, v)
		}
		epoch = &e
	}
	cursor, err := s.telemetry.OpenCursor(a.Partition, pos)
	if err != nil {
		return ehError(fmt.Errorf("%w: %v", eventhubs.ErrNotFound, err))
	}
	key := eventhubs.ReceiverKey{Entity: a.Entity, ConsumerGroup: a.ConsumerGroup, Partition: a.Partition}
	evicted, err := s.receivers.Register(key, snd, epoch)
	if err != nil {
		return ehError(err)
	}
	for _, old := range evicted {
		old.Detach(&amqp.Error{Condition: amqp.CondStolen,
			Description: fmt.Sprintf("New receiver with a higher epoch connected to partition %d of consumer group %s; this one is closed.", a.Partition, a.ConsumerGroup)})
	}
	s.goLink(func() {
		defer s.receivers.Unregister(key, snd)
		s.pumpEvents(snd, cursor)
	})
	return nil
}

// pumpEvents sends the partition's events as they are appended. Outcomes
// change nothing (Event Hubs keeps no per-event state), so it does not wait
// for them. The events the cursor returns together are posted together, so
// that they go out in one write rather than one per event.
func (s *Server) pumpEvents(snd *amqp.Sender, cursor *d2c.Cursor) {
	ctx := snd.Context()
	var batch []*amqp.Message
	caughtUp := false
	for {
		if caughtUp {
			// Caught up with the log: let a few more events arrive, so a
			// busy partition goes out in batches rather than an event per
			// wake-up, which costs the ingest path a context switch each.
			t := time.NewTimer(eventLinger)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		msgs, err := cursor.Next(ctx, eventBatch)
		if err != nil {
			return
		}
		caughtUp = len(msgs) < eventBatch
		batch = batch[:0]
		for _, m := range msgs {
			batch = append(batch, eventMessage(eventhubs.NewEvent(m)))
		}
		if err := snd.PostSettled(ctx, batch...); err != nil {
			return
		}
	}
}

// eventMessage puts an event on the wire as IoT Hub's endpoint does.
func eventMessage(ev eventhubs.Event) *amqp.Message {
	ann := make(map[amqp.Symbol]any, len(ev.Annotations))
	for k, v := range ev.Annotations {
		ann[amqp.Symbol(k)] = v
	}
	props := &amqp.Properties{
		UserID:             ev.UserID,
		To:                 ev.To,
		ContentType:        amqp.Symbol(ev.ContentType),
		ContentEncoding:    amqp.Symbol(ev.ContentEncoding),
		AbsoluteExpiryTime: ev.AbsoluteExpiryTime,
	}
	if ev.MessageID != "" {
		props.MessageID = ev.MessageID
	}
	if ev.CorrelationID != "" {
		props.CorrelationID = ev.CorrelationID
	}
	app := make(map[string]any, len(ev.Properties))
	for k, v := range ev.Properties {
		app[k] = v
	}
	return &amqp.Message{Annotations: ann, Properties: props, ApplicationProperties: app, Data: [][]byte{ev.Body}}
}

// startPosition reads a receiver's selector filter; with none it starts at
// the beginning of the partition.
func startPosition(src *amqp.Source) (d2c.EventPosition, error) {
	if src == nil {
		return d2c.Earliest(), nil
	}
	for _, v := range src.Filter {
		d, ok := v.(amqp.Described)
		if !ok || !isSelectorFilter(d.Descriptor) {
			continue
		}
		expr, ok := d.Value.(string)
		if !ok {
			return d2c.EventPosition{}, fmt.Errorf("%w: the selector filter is a %T, not a string", eventhubs.ErrBadFilter, d.Value)
		}
		return eventhubs.ParseFilter(expr)
	}
	return d2c.Earliest(), nil
}

func isSelectorFilter(desc any) bool {
	switch d := desc.(type) {
	case amqp.Symbol:
		return d == selectorFilterName
	case uint64:
		return d == selectorFilterCode
	}
	return false
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint64:
		return int64(x), x <= 1<<63-1
	case uint32:
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}

// manage answers a $management request of the Event Hubs-compatible
// endpoint: READ of the event hub or of a partition.
func (s *Server) manage(_ context.Context, c *amqp.ConnInfo, req *amqp.Message) *amqp.Message {
	ap := req.ApplicationProperties
	str := func(k string) string {
		switch v := ap[k].(type) {
		case string:
			return v
		case amqp.Symbol:
			return string(v)
		}
		return ""
	}
	r := eventhubs.ManagementRequest{Operation: str("operation"), Type: str("type"), Name: str("name"), Partition: str("partition")}
	if err := s.authorizeManagement(c, r.Name, str("security_token")); err != nil {
		return statusReply(401, err.Description)
	}
	result, err := s.eh.Read(r)
	if err != nil {
		return statusReply(eventhubs.StatusCode(err), err.Error())
	}
	reply := statusReply(200, "OK")
	reply.Value = result
	return reply
}

// authorizeManagement accepts a request carrying a valid security_token
// (as @azure/event-hubs sends) or on a connection with a claim for the
// entity it names.
func (s *Server) authorizeManagement(c *amqp.ConnInfo, entity, securityToken string) *amqp.Error {
	if securityToken != "" {
		tok, err := s.verifyToken(securityToken)
		if err != nil {
			e := errcode.From(err)
			return &amqp.Error{Condition: amqp.CondUnauthorizedAccess, Description: e.AMQPDescription()}
		}
		addClaim(c, securityToken, tok.ExpiresAt(), tok.Resource)
	}
	if entity == "" {
		entity = s.eh.Name()
	}
	return s.authorize(c, "/"+entity)
}

// redirect sends a client of IoT Hub's built-in messages/events endpoint to
// the Event Hubs-compatible one, as IoT Hub does: the link is attached,
// then detached with amqp:link:redirect naming where to go.
func (s *Server) redirect(l *amqp.Link, path string) {
	host := l.Conn.Hostname()
	if host == "" {
		host = s.hub.HostName()
	}
	rest := path[len(pathEvents):] // what followed messages/events, e.g. /$management
	port := s.redirectPort()
	address := fmt.Sprintf("amqps://%s:%d/%s%s", host, port, s.eh.Name(), rest)
	l.Detach(&amqp.Error{
		Condition:   amqp.CondLinkRedirect,
		Description: "Telemetry is read from the Event Hubs-compatible endpoint: " + address,
		Info: map[amqp.Symbol]any{
			"hostname":     host,
			"network-host": host,
			"port":         int32(port),
			"address":      address,
		},
	})
}
