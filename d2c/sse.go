package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultHeartbeat is how often an idle stream gets a comment line, so
// proxies and clients do not take it for dead.
const DefaultHeartbeat = 15 * time.Second

// catchUpPage is how many stored messages a stream reads at a time while
// it catches up.
const catchUpPage = MaxCount

// EventWriter writes messages in the text/event-stream format (server-sent
// events): each message is an event with id: its sequence number, so a
// reconnecting EventSource resumes where it left off.
type EventWriter struct {
	w     io.Writer
	flush func() error
}

// NewEventWriter writes events to w; flush pushes what was written to the
// client (nil: nothing to flush).
func NewEventWriter(w io.Writer, flush func() error) *EventWriter {
	if flush == nil {
		flush = func() error { return nil }
	}
	return &EventWriter{w: w, flush: flush}
}

// Event writes m as one "message" event; its data is the MessageView.
func (e *EventWriter) Event(m Message) error {
	b, err := json.Marshal(NewMessageView(m))
	if err != nil {
		return fmt.Errorf("encode message %d: %w", m.SequenceNumber, err)
	}
	// JSON from Marshal has no raw newlines, so one data line carries it.
	_, err = fmt.Fprintf(e.w, "id: %d\nevent: message\ndata: %s\n\n", m.SequenceNumber, b)
	return err
}

// Comment writes a comment line and flushes it.
func (e *EventWriter) Comment(text string) error {
	if _, err := fmt.Fprintf(e.w, ": %s\n\n", text); err != nil {
		return err
	}
	return e.Flush()
}

// Flush pushes what was written to the client.
func (e *EventWriter) Flush() error { return e.flush() }

// Stream writes to out the stored messages matching f (from f.FromSequence
// or f.FromTime), then every new one as it arrives, with a "heartbeat"
// comment every heartbeat (<= 0 means DefaultHeartbeat). A stream that falls
// behind the live feed resumes from the store without losing or repeating a
// message. It returns when ctx ends (ctx's error), the log closes (io.EOF)
// or a write fails; never nil.
func (l *Log) Stream(ctx context.Context, f Filter, out *EventWriter, heartbeat time.Duration) error {
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		// Subscribe before catching up, so nothing appended in between is
		// missed; what arrives twice is skipped by sequence number.
		live, cancel := l.Subscribe(Filter{DeviceID: f.DeviceID, ModuleID: f.ModuleID, FromTime: f.FromTime})
		err := l.catchUp(ctx, out, &f)
		if err == nil {
			err = l.follow(ctx, out, live, &f, tick.C)
		}
		cancel()
		if !errors.Is(err, errFellBehind) {
			return err
		}
		// Dropped for falling behind: subscribe again and catch up from the store.
	}
}

// errFellBehind ends follow when the log dropped the subscription.
var errFellBehind = errors.New("d2c: stream fell behind")

// catchUp sends the stored messages matching f, advancing f.FromSequence.
func (l *Log) catchUp(ctx context.Context, out *EventWriter, f *Filter) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, next := l.Read(*f, catchUpPage)
		for _, m := range msgs {
			if err := out.Event(m); err != nil {
				return err
			}
		}
		f.FromSequence = next
		if err := out.Flush(); err != nil {
			return err
		}
		if len(msgs) < catchUpPage {
			return nil
		}
	}
}

// follow sends live messages until the client leaves, the log closes
// (io.EOF) or the subscription is dropped (errFellBehind).
func (l *Log) follow(ctx context.Context, out *EventWriter, live <-chan Message, f *Filter, heartbeat <-chan time.Time) error {
	for {
		select {
		case m, ok := <-live:
			if !ok {
				if l.isClosed() {
					return io.EOF
				}
				return errFellBehind
			}
			if m.SequenceNumber < f.FromSequence {
				continue // already sent while catching up
			}
			if err := out.Event(m); err != nil {
				return err
			}
			f.FromSequence = m.SequenceNumber + 1
			if len(live) == 0 { // flush once per burst, not per message
				if err := out.Flush(); err != nil {
					return err
				}
			}
		case <-heartbeat:
			if err := out.Comment("heartbeat"); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
