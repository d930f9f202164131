package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The cloud-to-device endpoints:
//
//	POST   /emulator/devices/{id}/messages/devicebound   send (body: c2d.ParseSendRequest) → 200 with the queued message
//	GET    /emulator/devices/{id}/messages/devicebound   the device's pending messages, in order
//	GET    /emulator/messages/feedback                   every kept feedback record
//	DELETE /devices/{id}/commands                        purge → {"totalMessagesPurged","deviceId","moduleId":null}
//	GET    /messages/serviceBound/feedback               receive a feedback batch (200, lock token in ETag; 204 if none)
//	DELETE /messages/serviceBound/feedback/{lockToken}          complete it (204)
//	POST   /messages/serviceBound/feedback/{lockToken}/abandon  abandon it (204)

// maxC2DRequestBody bounds a send request: room for a 64 KB body in base64
// plus 64 KB of properties and JSON overhead.
const maxC2DRequestBody = 256 * 1024

// c2dDevice returns the (percent-decoded) device id of the path if
// messages may be sent to the device.
func (s *server) c2dDevice(r *http.Request) (string, error) {
	id, _, err := ids(r)
	if err != nil {
		return "", err
	}
	if !s.hub.C2DAllowed(id) {
		return "", errcode.New(errcode.DeviceNotFound, "Device %s is not registered.", id)
	}
	return id, nil
}

func (s *server) c2dSend(w http.ResponseWriter, r *http.Request) {
	id, err := s.c2dDevice(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxC2DRequestBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeError(w, errcode.New(errcode.MessageTooLarge, "The request body is larger than %d bytes.", maxC2DRequestBody))
		return
	}
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read."))
		return
	}
	m, err := c2d.ParseSendRequest(body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	m, err = s.c2d.Enqueue(r.Context(), id, m)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, c2d.NewMessageView(m))
}

func (s *server) c2dList(w http.ResponseWriter, r *http.Request) {
	id, err := s.c2dDevice(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	msgs := s.c2d.Messages(id)
	views := make([]c2d.MessageView, 0, len(msgs))
	for _, m := range msgs {
		views = append(views, c2d.NewMessageView(m))
	}
	s.writeJSON(w, http.StatusOK, views)
}

// purgeResult is IoT Hub's answer to a purge.
type purgeResult struct {
	TotalMessagesPurged int     `json:"totalMessagesPurged"`
	DeviceID            string  `json:"deviceId"`
	ModuleID            *string `json:"moduleId"`
}

func (s *server) c2dPurge(w http.ResponseWriter, r *http.Request) {
	id, err := s.c2dDevice(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	n, err := s.c2d.Purge(r.Context(), id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, purgeResult{TotalMessagesPurged: n, DeviceID: id})
}

func (s *server) c2dAllFeedback(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, s.c2d.Feedback())
}

func (s *server) c2dReceiveFeedback(w http.ResponseWriter, _ *http.Request) {
	b, ok := s.c2d.ReceiveFeedback()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := json.Marshal(b.Records)
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ServerError, err, "The feedback could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", c2d.FeedbackContentType)
	w.Header().Set("ETag", `"`+b.LockToken+`"`)
	w.Header().Set("iothub-enqueuedtime", b.EnqueuedTime.Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *server) c2dCompleteFeedback(w http.ResponseWriter, r *http.Request) {
	if err := s.c2d.CompleteFeedback(r.Context(), lockToken(r)); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) c2dAbandonFeedback(w http.ResponseWriter, r *http.Request) {
	if err := s.c2d.AbandonFeedback(lockToken(r)); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// lockToken is the (percent-decoded) lock token of the path, accepted bare
// or quoted, as it came in the ETag.
func lockToken(r *http.Request) string {
	tok := chi.URLParam(r, "lockToken")
	if dec, err := url.PathUnescape(tok); err == nil {
		tok = dec
	}
	return strings.Trim(tok, `"`)
}
