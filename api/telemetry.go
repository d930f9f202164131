package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The emulator's device-to-cloud read-back endpoints, under
// /emulator/messages/events:
//
//	GET /        a page, or a long poll with waitSeconds:
//	             200 {"messages":[...],"nextSequenceNumber":N}
//	GET /stream  server-sent events, one "message" event per new message
//
// Query parameters are those of d2c.ParseQuery; bad ones get 400
// ArgumentInvalid.

// telemetryPage is the body of a page.
type telemetryPage struct {
	Messages           []d2c.MessageView `json:"messages"`
	NextSequenceNumber int64             `json:"nextSequenceNumber"`
}

func (s *server) telemetryPage(w http.ResponseWriter, r *http.Request) {
	p, err := d2c.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var msgs []d2c.Message
	var next int64
	if p.Wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), p.Wait)
		msgs, next, err = s.telemetry.Wait(ctx, p.Filter, p.MaxCount)
		cancel()
		if errors.Is(err, d2c.ErrClosed) {
			s.writeError(w, errcode.New(errcode.ServiceUnavailable, "The hub is shutting down."))
			return
		}
	} else {
		msgs, next = s.telemetry.Read(p.Filter, p.MaxCount)
	}
	out := telemetryPage{Messages: make([]d2c.MessageView, len(msgs)), NextSequenceNumber: next}
	for i, m := range msgs {
		out.Messages[i] = d2c.NewMessageView(m)
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ServerError, err, "The messages could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

// telemetryStream serves server-sent events: the stored messages from
// fromSequenceNumber (or fromEnqueuedTime, or the Last-Event-ID an
// EventSource resends on reconnect) if given, then every new one as it
// arrives. It ends when the client goes away or the log closes.
func (s *server) telemetryStream(w http.ResponseWriter, r *http.Request) {
	p, err := d2c.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, err)
		return
	}
	f := p.Filter
	switch {
	case p.FromSeq:
	case lastEventID(r) > 0:
		f.FromSequence = lastEventID(r) + 1
	case p.FromTime:
	default:
		f.FromSequence = s.telemetry.NextSequenceNumber()
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // keep reverse proxies from holding events back
	out := d2c.NewEventWriter(w, http.NewResponseController(w).Flush)
	// The first flush sends the headers; a writer that cannot flush (a
	// middleware wrapper without Unwrap) has sent nothing yet, so say why.
	if err := out.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			hdr.Del("Cache-Control")
			hdr.Del("X-Accel-Buffering")
			s.writeError(w, errcode.Wrap(errcode.ServerError, err, "This server cannot stream events."))
		}
		return
	}
	ctx := r.Context()
	if err := s.telemetry.Stream(ctx, f, out, s.heartbeat); err != nil && ctx.Err() == nil {
		s.log.Debug("event stream ended", "err", err)
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
