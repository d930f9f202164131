package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/seed"
)

// The seed endpoints:
//
//	GET  /emulator/export?format=yaml|json   200 with the document (default yaml)
//	POST /emulator/import                    200 with the seed.Result as JSON
//
// An import body is YAML or JSON as its Content-Type says (seed.FormatOf),
// else told from the content.

func (s *server) seedExport(w http.ResponseWriter, r *http.Request) {
	body, ct, err := s.seed.Export(r.Context(), r.URL.Query().Get("format"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *server) seedImport(w http.ResponseWriter, r *http.Request) {
	body, err := readSized(http.MaxBytesReader(w, r.Body, seed.MaxDocumentSize), r.ContentLength, seed.MaxDocumentSize)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.writeError(w, errcode.New(errcode.MessageTooLarge, "The seed document is larger than %d bytes.", seed.MaxDocumentSize))
		return
	case err != nil:
		s.writeError(w, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read."))
		return
	}
	res, err := s.seed.Import(r.Context(), body, seed.FormatOf(r.Header.Get("Content-Type")))
	if err != nil {
		s.writeError(w, err)
		return
	}
	out, err := json.Marshal(res)
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ServerError, err, "could not encode the result"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// readSized reads body to the end into one buffer of the length the
// request states, when it states one within limit: a seed document runs
// to megabytes, and io.ReadAll would grow its buffer to that size a
// doubling at a time, copying it each time. A body longer than stated
// (net/http refuses one) or with no length reads as io.ReadAll would.
func readSized(body io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(body)
	}
	// One byte beyond the length, so that the read that finds the end
	// needs no room of its own.
	b := make([]byte, 0, length+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
