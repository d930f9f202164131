package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// DefaultHeartbeat is how often an idle event stream gets a comment line, so
// proxies and clients do not take it for dead.
const DefaultHeartbeat = 15 * time.Second

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

// wireMessage is a message as the endpoints send it: the body also as text
// when it is valid UTF-8, so people can read it without decoding base64.
type wireMessage struct {
	Message
	BodyText *string `json:"bodyText,omitempty"`
}

func toWire(m Message) wireMessage {
	w := wireMessage{Message: m}
	if utf8.Valid(m.Body) {
		s := string(m.Body)
		w.BodyText = &s
	}
	return w
}

type page struct {
	Messages           []wireMessage `json:"messages"`
	NextSequenceNumber int64         `json:"nextSequenceNumber"`
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, err)
		return
	}
	var msgs []Message
	var next int64
	if p.wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), p.wait)
		msgs, next, err = h.log.Wait(ctx, p.filter, p.maxCount)
		cancel()
		if errors.Is(err, ErrClosed) {
			h.writeError(w, errcode.New(errcode.ServiceUnavailable, "The hub is shutting down."))
			return
		}
	} else {
		msgs, next = h.log.Read(p.filter, p.maxCount)
	}
	out := page{Messages: make([]wireMessage, len(msgs)), NextSequenceNumber: next}
	for i, m := range msgs {
		out.Messages[i] = toWire(m)
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
