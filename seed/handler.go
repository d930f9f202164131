package seed

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

type handler struct {
	hub *hub.Hub
	// importing serialises imports, so two documents never interleave.
	importing sync.Mutex
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
	s := &handler{hub: h}
	r := chi.NewRouter()
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.notFound)
	r.Get("/export", s.export)
	r.Post("/import", s.importDocument)
	return r
}

func (s *handler) export(w http.ResponseWriter, r *http.Request) {
	format := strings.ToLower(r.URL.Query().Get("format"))
	if format == "" {
		format = FormatYAML
	}
	if format != FormatYAML && format != FormatJSON {
		writeError(w, badFormat(format))
		return
	}
	d, err := Export(r.Context(), s.hub)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := d.Marshal(format)
	if err != nil {
		writeError(w, errcode.Wrap(errcode.ServerError, err, "The hub could not be written as %s.", format))
		return
	}
	ct := "application/yaml; charset=utf-8"
	if format == FormatJSON {
		ct = "application/json; charset=utf-8"
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
	d, err := Parse(body, formatOf(r.Header.Get("Content-Type")))
	if err != nil {
		writeError(w, err)
		return
	}
	s.importing.Lock()
	res, err := Apply(r.Context(), s.hub, d)
	s.importing.Unlock()
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

// formatOf maps a Content-Type to a document format; "" means tell from the
// content.
func formatOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case "application/json", "text/json":
		return FormatJSON
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return FormatYAML
	default:
		return ""
	}
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
