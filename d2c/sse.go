package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// catchUpPage is how many stored messages the stream reads at a time while
// it catches up.
const catchUpPage = MaxCount

// stream serves server-sent events: the stored messages from
// fromSequenceNumber (or fromEnqueuedTime, or the Last-Event-ID an
// EventSource resends on reconnect) if given, then every new one as it
// arrives. It ends when the client goes away or the log closes.
//
// Each message is an event with id: its sequence number, so a reconnecting
// EventSource resumes where it left off.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, err)
		return
	}
	f := p.filter
	switch {
	case p.fromSeq:
	case lastEventID(r) > 0:
		f.FromSequence = lastEventID(r) + 1
	case p.fromTime:
	default:
		f.FromSequence = h.log.NextSequenceNumber()
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // keep reverse proxies from holding events back
	out := &eventWriter{w: w, rc: http.NewResponseController(w)}
	// The first flush sends the headers; a writer that cannot flush (a
	// middleware wrapper without Unwrap) has sent nothing yet, so say why.
	if err := out.flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			hdr.Del("Cache-Control")
			hdr.Del("X-Accel-Buffering")
			h.writeError(w, errcode.Wrap(errcode.ServerError, err, "This server cannot stream events."))
		}
		return
	}

	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	ctx := r.Context()
	for {
		// Subscribe before catching up, so nothing appended in between is
		// missed; what arrives twice is skipped by sequence number.
		live, cancel := h.log.Subscribe(Filter{DeviceID: f.DeviceID, ModuleID: f.ModuleID, FromTime: f.FromTime})
		err := h.catchUp(ctx, out, &f)
		if err == nil {
			err = h.follow(ctx, out, live, &f, heartbeat.C)
		}
		cancel()
		if !errors.Is(err, errFellBehind) {
			if err != nil && ctx.Err() == nil {
				h.logger.Debug("event stream ended", "err", err)
			}
			return
		}
		// Dropped for falling behind: subscribe again and catch up from the store.
	}
}

// errFellBehind ends follow when the log dropped the subscription.
var errFellBehind = errors.New("d2c: stream fell behind")

// catchUp sends the stored messages matching f, advancing f.FromSequence.
func (h *handler) catchUp(ctx context.Context, out *eventWriter, f *Filter) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, next := h.log.Read(*f, catchUpPage)
		for _, m := range msgs {
			if err := out.event(m); err != nil {
				return err
			}
		}
		f.FromSequence = next
		if err := out.flush(); err != nil {
			return err
		}
		if len(msgs) < catchUpPage {
			return nil
		}
	}
}

// follow sends live messages until the client leaves, the log closes
// (io.EOF) or the subscription is dropped (errFellBehind).
func (h *handler) follow(ctx context.Context, out *eventWriter, live <-chan Message, f *Filter, heartbeat <-chan time.Time) error {
	for {
		select {
		case m, ok := <-live:
			if !ok {
				if h.log.isClosed() {
					return io.EOF
				}
				return errFellBehind
			}
			if m.SequenceNumber < f.FromSequence {
				continue // already sent while catching up
			}
			if err := out.event(m); err != nil {
				return err
			}
			f.FromSequence = m.SequenceNumber + 1
			if len(live) == 0 { // flush once per burst, not per message
				if err := out.flush(); err != nil {
					return err
				}
			}
		case <-heartbeat:
			if err := out.comment("heartbeat"); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lastEventID is the sequence number in an EventSource's Last-Event-ID
// header, or 0.
func lastEventID(r *http.Request) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(r.Header.Get("Last-Event-ID")), 10, 64)
	if err != nil || n < 0 || n == 1<<63-1 {
		return 0
	}
	return n
}

// eventWriter writes the text/event-stream format.
type eventWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (e *eventWriter) event(m Message) error {
	b, err := json.Marshal(toWire(m))
	if err != nil {
		return fmt.Errorf("encode message %d: %w", m.SequenceNumber, err)
	}
	// JSON from Marshal has no raw newlines, so one data line carries it.
	_, err = fmt.Fprintf(e.w, "id: %d\nevent: message\ndata: %s\n\n", m.SequenceNumber, b)
	return err
}

func (e *eventWriter) comment(text string) error {
	if _, err := fmt.Fprintf(e.w, ": %s\n\n", text); err != nil {
		return err
	}
	return e.flush()
}

func (e *eventWriter) flush() error { return e.rc.Flush() }
