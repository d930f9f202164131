package c2d

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// maxRequestBody bounds a send request: room for a 64 KB body in base64
// plus 64 KB of properties and JSON overhead.
const maxRequestBody = 256 * 1024

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// DeviceExists reports whether messages may be sent to the device;
	// false answers DeviceNotFound. nil accepts every id.
	DeviceExists func(deviceID string) bool
	Logger       *slog.Logger
	Now          func() time.Time // for error timestamps
}

type handler struct {
	q      *Queues
	exists func(string) bool
	log    *slog.Logger
	now    func() time.Time
}

// NewHandler serves the emulator's cloud-to-device REST endpoints, paths
// relative to where it is mounted (authorization is the mounter's job):
//
//	POST   /devices/{id}/messages/devicebound   send; JSON {"body":"text"} or {"bodyBase64":"..."}
//	       plus optional messageId, correlationId, userId, contentType, contentEncoding,
//	       expiryTimeUtc, ack, properties{} → 200 with the queued message
//	GET    /devices/{id}/messages/devicebound   the device's pending messages, in order
//	DELETE /devices/{id}/commands               purge → {"totalMessagesPurged","deviceId","moduleId":null}
//	GET    /messages/feedback                   every kept feedback record
//	GET    /messages/serviceBound/feedback      receive a feedback batch (200, lock token in ETag; 204 if none)
//	DELETE /messages/serviceBound/feedback/{lockToken}          complete it (204)
//	POST   /messages/serviceBound/feedback/{lockToken}/abandon  abandon it (204)
func NewHandler(q *Queues, opts HandlerOptions) http.Handler {
	h := &handler{q: q, exists: opts.DeviceExists, log: opts.Logger, now: opts.Now}
	if h.exists == nil {
		h.exists = func(string) bool { return true }
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.now == nil {
		h.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devices/{id}/messages/devicebound", h.send)
	mux.HandleFunc("GET /devices/{id}/messages/devicebound", h.list)
	mux.HandleFunc("DELETE /devices/{id}/commands", h.purge)
	mux.HandleFunc("GET /messages/feedback", h.allFeedback)
	mux.HandleFunc("GET /messages/serviceBound/feedback", h.receiveFeedback)
	mux.HandleFunc("DELETE /messages/serviceBound/feedback/{lockToken}", h.completeFeedback)
	mux.HandleFunc("POST /messages/serviceBound/feedback/{lockToken}/abandon", h.abandonFeedback)
	mux.HandleFunc("/", h.notFound)
	return mux
}

// device returns the (percent-decoded) device id of the path if the device exists.
func (h *handler) device(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !h.exists(id) {
		return "", errcode.New(errcode.DeviceNotFound, "Device %s is not registered.", id)
	}
	return id, nil
}

func (h *handler) send(w http.ResponseWriter, r *http.Request) {
	id, err := h.device(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.writeError(w, errcode.New(errcode.MessageTooLarge, "The request body is larger than %d bytes.", maxRequestBody))
		return
	}
	if err != nil {
		h.writeError(w, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read."))
		return
	}
	m, err := ParseSendRequest(body)
	if err != nil {
		h.writeError(w, err)
		return
	}
	m, err = h.q.Enqueue(r.Context(), id, m)
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, NewMessageView(m))
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	id, err := h.device(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	msgs := h.q.Messages(id)
	views := make([]MessageView, 0, len(msgs))
	for _, m := range msgs {
		views = append(views, NewMessageView(m))
	}
	h.writeJSON(w, http.StatusOK, views)
}

// purgeResult is IoT Hub's answer to a purge.
type purgeResult struct {
	TotalMessagesPurged int     `json:"totalMessagesPurged"`
	DeviceID            string  `json:"deviceId"`
	ModuleID            *string `json:"moduleId"`
}

func (h *handler) purge(w http.ResponseWriter, r *http.Request) {
	id, err := h.device(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	n, err := h.q.Purge(r.Context(), id)
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, purgeResult{TotalMessagesPurged: n, DeviceID: id})
}

func (h *handler) allFeedback(w http.ResponseWriter, _ *http.Request) {
	h.writeJSON(w, http.StatusOK, h.q.Feedback())
}

func (h *handler) receiveFeedback(w http.ResponseWriter, _ *http.Request) {
	b, ok := h.q.ReceiveFeedback()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := json.Marshal(b.Records)
	if err != nil {
		h.writeError(w, errcode.Wrap(errcode.ServerError, err, "The feedback could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", FeedbackContentType)
	w.Header().Set("ETag", `"`+b.LockToken+`"`)
	w.Header().Set("iothub-enqueuedtime", b.EnqueuedTime.Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (h *handler) completeFeedback(w http.ResponseWriter, r *http.Request) {
	if err := h.q.CompleteFeedback(r.Context(), lockToken(r)); err != nil {
		h.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) abandonFeedback(w http.ResponseWriter, r *http.Request) {
	if err := h.q.AbandonFeedback(lockToken(r)); err != nil {
		h.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// lockToken accepts the token bare or quoted, as it came in the ETag.
func lockToken(r *http.Request) string {
	return strings.Trim(r.PathValue("lockToken"), `"`)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of this hub.", r.Method, r.URL.Path))
}

// writeError renders err as IoT Hub's REST error: the body the SDKs parse
// and the iothub-errorcode header.
func (h *handler) writeError(w http.ResponseWriter, err error) {
	e := errcode.From(err)
	if e.Code == errcode.ServerError && e.Err != nil {
		h.log.Error("c2d: internal error", "err", e.Err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code.Name())
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(e.RESTBody(h.now()))
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.writeError(w, errcode.Wrap(errcode.ServerError, err, "The response could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
