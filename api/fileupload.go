package api

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// File upload, as the device SDKs call it, authorized by the device's own
// SAS token:
//
//	POST /devices/{id}/files                                {blobName} → 200 {correlationId, hostName, containerName, blobName, sasToken}
//	POST /devices/{id}/files/notifications                  {correlationId, isSuccess, statusCode, statusDescription} → 204 (Python)
//	POST /devices/{id}/files/notifications/{correlationId}  {isSuccess, statusCode, statusDescription} → 204 (Node)
//
// and the emulator's read-back of the notifications, behind ServiceConnect:
//
//	GET /emulator/messages/filenotifications                the kept notifications, oldest first

// fileUploadRoutes are the rows of file upload; empty when it is off.
func (s *server) fileUploadRoutes(opts Options) []route {
	if opts.FileUploads == nil {
		return nil
	}
	return []route{
		{"POST", "/devices/{id}/files", s.fileUploadStart, asDevice, faults.FileUploads},
		{"POST", "/devices/{id}/files/notifications", s.fileUploadNotify, asDevice, faults.FileUploads},
		{"POST", "/devices/{id}/files/notifications/{correlationId}", s.fileUploadNotify, asDevice, faults.FileUploads},
		{"GET", "/emulator/messages/filenotifications", s.fileNotifications, need(registry.ServiceConnect), unthrottled},
		{anyMethod, "/emulator/messages/filenotifications", s.notFound, need(registry.ServiceConnect), unthrottled},
	}
}

func (s *server) fileUploadStart(w http.ResponseWriter, r *http.Request) {
	deviceID, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var req struct {
		BlobName string `json:"blobName"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The request body is not a file upload request: %v.", err))
		return
	}
	up, err := s.files.Start(deviceID, req.BlobName, r.Host)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, up)
}

func (s *server) fileUploadNotify(w http.ResponseWriter, r *http.Request) {
	deviceID, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var req struct {
		CorrelationID     string `json:"correlationId"`
		IsSuccess         *bool  `json:"isSuccess"`
		StatusCode        int    `json:"statusCode"`
		StatusDescription string `json:"statusDescription"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The request body is not a file upload notification: %v.", err))
		return
	}
	if p := chi.URLParam(r, "correlationId"); p != "" {
		if req.CorrelationID, err = url.PathUnescape(p); err != nil {
			s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The correlation id in the URL is not validly percent-encoded."))
			return
		}
	}
	if req.IsSuccess == nil {
		s.writeError(w, errcode.New(errcode.ArgumentNull, "isSuccess is required."))
		return
	}
	res := fileupload.Result{IsSuccess: *req.IsSuccess, StatusCode: req.StatusCode, StatusDescription: req.StatusDescription}
	if err := s.files.Complete(r.Context(), deviceID, req.CorrelationID, res); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) fileNotifications(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, s.files.Notifications())
}
