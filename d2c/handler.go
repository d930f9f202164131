package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	Logger    *slog.Logger
	Now       func() time.Time // for the timestamp in error bodies
	Heartbeat time.Duration    // between event-stream comments (default 15 s)
}

type handler struct {
	log       *Log
	logger    *slog.Logger
	now       func() time.Time
	heartbeat time.Duration
}

// NewHandler serves the emulator's telemetry endpoints. The caller mounts it
// (with chi's Mount, or alone) and checks authorization first.
//
//	GET /        a page, or a long poll with waitSeconds:
//	             200 {"messages":[...],"nextSequenceNumber":N}
//	GET /stream  server-sent events, one "message" event per new message
//
// Query parameters: deviceId, moduleId, fromSequenceNumber, fromEnqueuedTime
// (RFC 3339), maxCount (1..1000, default 100), waitSeconds (0..60).
// Bad parameters get 400 ArgumentInvalid with IoT Hub's error body.
func NewHandler(l *Log, opts HandlerOptions) http.Handler {
	h := &handler{log: l, logger: opts.Logger, now: opts.Now, heartbeat: opts.Heartbeat}
	if h.logger == nil {
		h.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.heartbeat <= 0 {
		h.heartbeat = DefaultHeartbeat
	}
	r := chi.NewRouter()
	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.notFound)
	r.Get("/", h.page)
	r.Get("/stream", h.stream)
	r.Get("/stream/", h.stream)
	return r
}

type page struct {
	Messages           []MessageView `json:"messages"`
	NextSequenceNumber int64         `json:"nextSequenceNumber"`
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	p, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, err)
		return
	}
	var msgs []Message
	var next int64
	if p.Wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), p.Wait)
		msgs, next, err = h.log.Wait(ctx, p.Filter, p.MaxCount)
		cancel()
		if errors.Is(err, ErrClosed) {
			h.writeError(w, errcode.New(errcode.ServiceUnavailable, "The hub is shutting down."))
			return
		}
	} else {
		msgs, next = h.log.Read(p.Filter, p.MaxCount)
	}
	out := page{Messages: make([]MessageView, len(msgs)), NextSequenceNumber: next}
	for i, m := range msgs {
		out.Messages[i] = NewMessageView(m)
	}
	b, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, errcode.Wrap(errcode.ServerError, err, "The messages could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of this hub.", r.Method, r.URL.Path))
}

// writeError renders err as IoT Hub's REST error: the body the SDKs parse
// and the iothub-errorcode header.
func (h *handler) writeError(w http.ResponseWriter, err error) {
	e := errcode.From(err)
	if e.Code == errcode.ServerError && e.Err != nil {
		h.logger.Error("internal error", "err", e.Err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code.Name())
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(e.RESTBody(h.now()))
}

// stream serves server-sent events: the stored messages from
// fromSequenceNumber (or fromEnqueuedTime, or the Last-Event-ID an
// EventSource resends on reconnect) if given, then every new one as it
// arrives. It ends when the client goes away or the log closes.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	p, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, err)
		return
	}
	f := p.Filter
	switch {
	case p.FromSeq:
	case lastEventID(r) > 0:
		f.FromSequence = lastEventID(r) + 1
	case p.FromTime:
	default:
		f.FromSequence = h.log.NextSequenceNumber()
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // keep reverse proxies from holding events back
	out := NewEventWriter(w, http.NewResponseController(w).Flush)
	// The first flush sends the headers; a writer that cannot flush (a
	// middleware wrapper without Unwrap) has sent nothing yet, so say why.
	if err := out.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			hdr.Del("Cache-Control")
			hdr.Del("X-Accel-Buffering")
			h.writeError(w, errcode.Wrap(errcode.ServerError, err, "This server cannot stream events."))
		}
		return
	}
	ctx := r.Context()
	if err := h.log.Stream(ctx, f, out, h.heartbeat); err != nil && ctx.Err() == nil {
		h.logger.Debug("event stream ended", "err", err)
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
