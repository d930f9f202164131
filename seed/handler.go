package seed

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

type handler struct {
	seeder *Seeder
}

// NewHandler serves export and import of seed documents. The caller mounts
// it (with chi's Mount, or alone) and checks authorization first.
//
//	GET  /export?format=yaml|json   200 with the document (default yaml)
//	POST /import                    200 with the Result as JSON
//
// An import body is YAML or JSON as its Content-Type says
// (application/json; application/yaml, application/x-yaml, text/yaml),
// else told from the content. Errors are IoT Hub REST errors.
func NewHandler(h *hub.Hub) http.Handler {
	s := &handler{seeder: NewSeeder(h)}
	r := chi.NewRouter()
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.notFound)
	r.Get("/export", s.export)
	r.Post("/import", s.importDocument)
	return r
}

func (s *handler) export(w http.ResponseWriter, r *http.Request) {
	body, ct, err := s.seeder.Export(r.Context(), r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *handler) importDocument(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxDocumentSize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, errcode.New(errcode.MessageTooLarge, "The seed document is larger than %d bytes.", MaxDocumentSize))
		return
	case err != nil:
		writeError(w, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read."))
		return
	}
	res, err := s.seeder.Import(r.Context(), body, FormatOf(r.Header.Get("Content-Type")))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := json.Marshal(res)
	if err != nil {
		writeError(w, errcode.Wrap(errcode.ServerError, err, "could not encode the result"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func (s *handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of this hub.", r.Method, r.URL.Path))
}

// writeError renders err as IoT Hub's REST error body with the
// iothub-errorcode header.
func writeError(w http.ResponseWriter, err error) {
	e := errcode.From(err)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code.Name())
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(e.RESTBody(time.Now()))
}
