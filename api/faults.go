package api

import (
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The fault-injection admin API, under /emulator/faults:
//
//	GET    /      the faults in effect or scheduled: a JSON array
//	POST   /      add a fault (body: faults.Injector.Submit); 201 with the fault.
//	              {"fault":"drop","deviceId":...} drops the connection now: 204
//	DELETE /      remove every fault: 204
//	GET    /{id}  one fault
//	DELETE /{id}  remove one fault: 204
//
// Each path also takes a trailing slash. Errors are 400 ArgumentInvalid
// for a bad body (nothing is changed then), 404 IotHubNotFound otherwise.

func (s *server) faultsList(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, s.faults.Active())
}

func (s *server) faultsAdd(w http.ResponseWriter, r *http.Request) {
	ft, dropped, err := s.faults.Submit(r.Body)
	switch {
	case err != nil:
		s.writeError(w, err)
	case dropped:
		w.WriteHeader(http.StatusNoContent)
	default:
		s.writeJSON(w, http.StatusCreated, ft)
	}
}

func (s *server) faultsClear(w http.ResponseWriter, _ *http.Request) {
	s.faults.Clear()
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) faultsGet(w http.ResponseWriter, r *http.Request) {
	id := faultID(r)
	for _, ft := range s.faults.Active() {
		if ft.ID == id {
			s.writeJSON(w, http.StatusOK, ft)
			return
		}
	}
	s.writeError(w, noFault(id))
}

func (s *server) faultsRemove(w http.ResponseWriter, r *http.Request) {
	id := faultID(r)
	if !s.faults.Remove(id) {
		s.writeError(w, noFault(id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// faultsNotFound answers what is not an operation of the admin API.
func (s *server) faultsNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of the fault-injection API.", r.Method, r.URL.Path))
}

// faultID is the (percent-decoded) fault id of the path.
func faultID(r *http.Request) string {
	id := chi.URLParam(r, "id")
	if dec, err := url.PathUnescape(id); err == nil {
		id = dec
	}
	return id
}

func noFault(id string) error {
	return errcode.New(errcode.IotHubNotFound, "No fault %q is in effect or scheduled.", id)
}
