package api

import (
	"net/http"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// bulkRegistry serves POST /devices: up to 100 identities created, updated
// or deleted in one call, each on its own (hub.BulkRegistry). The answer is
// IoT Hub's BulkRegistryOperationResult, 200 when every item succeeded and
// 400 (iothub-errorcode BulkRegistryOperationFailure) with the same body
// listing the failed ones otherwise: the SDKs parse the body of both. A
// request refused whole (hub.ParseBulk) gets the usual error body.
func (s *server) bulkRegistry(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	ops, err := hub.ParseBulk(body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	res := s.hub.BulkRegistry(r.Context(), ops)
	status := http.StatusOK
	if !res.IsSuccessful {
		status = errcode.BulkRegistryOperationFailure.HTTPStatus()
		w.Header().Set("iothub-errorcode", errcode.BulkRegistryOperationFailure.Name())
	}
	s.writeJSON(w, status, res)
}
