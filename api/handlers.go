package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
)

// handle adapts a handler that returns its result or error: a nil result
// with no error answers 204.
func (s *server) handle(fn func(r *http.Request, deviceID, moduleID string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		deviceID, moduleID, err := ids(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		out, err := fn(r, deviceID, moduleID)
		switch {
		case err != nil:
			s.writeError(w, err)
		case out == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			s.writeJSON(w, http.StatusOK, out)
		}
	}
}

func (s *server) getDevice(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, _ string) (any, error) { return s.hub.GetDevice(r.Context(), id) })(w, r)
}

func (s *server) putDevice(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, _ string) (any, error) {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		return s.hub.PutDevice(r.Context(), id, body, ifMatch(r))
	})(w, r)
}

func (s *server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, _ string) (any, error) {
		return nil, s.hub.DeleteDevice(r.Context(), id, ifMatch(r))
	})(w, r)
}

func (s *server) listDevices(w http.ResponseWriter, r *http.Request) {
	top := 0
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(w, errcode.New(errcode.ArgumentInvalid, "top must be an integer, not %q.", v))
			return
		}
		top = n
	}
	s.writeJSON(w, http.StatusOK, s.hub.ListDevices(r.Context(), top))
}

func (s *server) getModule(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, mid string) (any, error) { return s.hub.GetModule(r.Context(), id, mid) })(w, r)
}

func (s *server) listModules(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, _ string) (any, error) { return s.hub.ListModules(r.Context(), id) })(w, r)
}

func (s *server) putModule(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, mid string) (any, error) {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		return s.hub.PutModule(r.Context(), id, mid, body, ifMatch(r))
	})(w, r)
}

func (s *server) deleteModule(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, mid string) (any, error) {
		return nil, s.hub.DeleteModule(r.Context(), id, mid, ifMatch(r))
	})(w, r)
}

// reset empties the hub (emulator-only): every job, configuration,
// identity, twin, queue and logged message. The jobs go first, so none
// runs on into the emptied registry.
func (s *server) reset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var steps []func(context.Context) error
	if s.imports != nil {
		steps = append(steps, s.imports.Reset)
	}
	if s.jobs != nil {
		steps = append(steps, s.jobs.Reset)
	}
	if s.configs != nil {
		steps = append(steps, s.configs.Reset)
	}
	steps = append(steps, s.hub.Reset)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			s.writeError(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) registryStatistics(w http.ResponseWriter, _ *http.Request) {
	rs, _ := s.hub.Statistics()
	s.writeJSON(w, http.StatusOK, rs)
}

func (s *server) serviceStatistics(w http.ResponseWriter, _ *http.Request) {
	_, ss := s.hub.Statistics()
	s.writeJSON(w, http.StatusOK, ss)
}

func (s *server) getTwin(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, mid string) (any, error) { return s.hub.GetTwin(r.Context(), id, mid) })(w, r)
}

func (s *server) updateTwin(replace bool) http.HandlerFunc {
	return s.handle(func(r *http.Request, id, mid string) (any, error) {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		return s.hub.UpdateTwin(r.Context(), id, mid, body, ifMatch(r), replace)
	})
}

func (s *server) invokeMethod(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request, id, mid string) (any, error) {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		return s.hub.InvokeMethod(r.Context(), id, mid, body)
	})(w, r)
}

// querySpec is the body of POST /devices/query.
type querySpec struct {
	Query *string `json:"query"`
}

func (s *server) query(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var spec querySpec
	if err := json.Unmarshal(body, &spec); err != nil {
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The request body must be {\"query\": \"SELECT ...\"}."))
		return
	}
	if spec.Query == nil || strings.TrimSpace(*spec.Query) == "" {
		s.writeError(w, errcode.New(errcode.ArgumentNull, "The query text is missing."))
		return
	}
	maxItems, err := intHeader(r, "x-ms-max-item-count")
	if err != nil {
		s.writeError(w, err)
		return
	}
	page, encoded, err := s.hub.QueryEncoded(r.Context(), *spec.Query, query.PageOptions{
		MaxItemCount: maxItems,
		Continuation: r.Header.Get("x-ms-continuation"),
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("x-ms-item-type", page.ItemType)
	// The header is omitted on the last page: the Node SDK loops while it is present.
	if page.Continuation != "" {
		w.Header().Set("x-ms-continuation", page.Continuation)
	}
	items := page.Items
	if items == nil {
		items = []any{}
	}
	if page.ItemType != query.ItemTypeTwin {
		s.writeJSON(w, http.StatusOK, items)
		return
	}
	// Whole twins: written as the hub encoded them.
	size := 2 + len(encoded)
	for _, b := range encoded {
		size += len(b)
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i, b := range encoded {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	out = append(out, ']')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// ifMatch returns the request's If-Match condition. A header that is present
// but blank is passed on as an empty entity tag, which matches nothing: only
// a missing header is unconditional.
func ifMatch(r *http.Request) string {
	vs, present := r.Header["If-Match"]
	if !present {
		return ""
	}
	v := strings.TrimSpace(strings.Join(vs, ","))
	if v == "" {
		return `""`
	}
	return v
}
