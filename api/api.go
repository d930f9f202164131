// Package api serves IoT Hub's service REST API (registry, twins, queries,
// statistics) on chi, with SAS authentication and IoT Hub's error bodies.
package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// maxBody bounds a request body; the largest legitimate one (a twin with
// full tags and desired sections) is far smaller.
const maxBody = 1 << 20

// Options configure the API.
type Options struct {
	Logger *slog.Logger
	// Ready reports whether every listener is up; /healthz answers 503 until then.
	Ready func() bool
	// Telemetry serves the emulator's device-to-cloud read-back endpoints,
	// mounted at /emulator/messages/events behind ServiceConnect.
	Telemetry http.Handler
	// C2D serves cloud-to-device sending (under /emulator), purging and
	// feedback, behind ServiceConnect.
	C2D http.Handler
	// Seed serves GET /emulator/export (RegistryRead: it holds every key)
	// and POST /emulator/import (RegistryWrite).
	Seed http.Handler
	// CAPEM, if set, is served without authentication at /emulator/ca.pem,
	// so a client (or a container's host) can fetch the CA to trust.
	CAPEM []byte
	// Faults throttles REST operations it is told to (and, with a tier,
	// those over the tier's rates), and serves /emulator/faults.
	Faults *faults.Injector
	// Clients lists the live device connections for GET /emulator/clients.
	Clients func() any
	// Metrics is served, without authentication, at /emulator/metrics and
	// counts requests by status.
	Metrics *metrics.Registry
	// Strict refuses api-versions the real hub would refuse; by default any
	// value, or none, is accepted.
	Strict bool
	Now    func() time.Time
}

type server struct {
	hub      *hub.Hub
	requests *metrics.CounterVec
	log      *slog.Logger
	ready    func() bool
	now      func() time.Time
}

// New returns the REST API handler.
func New(h *hub.Hub, opts Options) http.Handler {
	s := &server{hub: h, log: opts.Logger, ready: opts.Ready, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	if s.now == nil {
		s.now = time.Now
	}

	r := chi.NewRouter()
	r.Use(s.rawPathRouting, s.recoverer, s.logRequests)
	if opts.Strict {
		r.Use(s.strictAPIVersion)
	}
	if opts.Faults != nil {
		r.Use(opts.Faults.Middleware(nil))
	}
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.notFound)
	r.Get("/healthz", s.healthz)
	if len(opts.CAPEM) > 0 {
		r.Get("/emulator/ca.pem", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(opts.CAPEM)
		})
	}
	if opts.Metrics != nil {
		s.requests = opts.Metrics.CounterVec("iothub_rest_requests_total", "REST requests by HTTP status.", "code")
		r.Get("/emulator/metrics", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			if err := opts.Metrics.WriteText(w); err != nil {
				s.log.Debug("metrics write", "err", err)
			}
		})
	}

	read, write := registry.RegistryRead, registry.RegistryWrite
	svc := registry.ServiceConnect
	r.Group(func(r chi.Router) {
		r.With(s.auth(read)).Get("/devices", s.listDevices)
		r.With(s.auth(read)).Get("/devices/", s.listDevices)
		r.With(s.auth(svc|read)).Post("/devices/query", s.query)
		r.With(s.auth(read)).Get("/devices/{id}", s.getDevice)
		r.With(s.auth(write)).Put("/devices/{id}", s.putDevice)
		r.With(s.auth(write)).Delete("/devices/{id}", s.deleteDevice)
		r.With(s.auth(write)).Post("/emulator/reset", s.reset)
		if opts.Clients != nil {
			r.With(s.auth(svc|read)).Get("/emulator/clients", func(w http.ResponseWriter, _ *http.Request) {
				s.writeJSON(w, http.StatusOK, opts.Clients())
			})
		}
		r.With(s.auth(read)).Get("/statistics/devices", s.registryStatistics)
		r.With(s.auth(svc)).Get("/statistics/service", s.serviceStatistics)
		r.With(s.auth(read)).Get("/devices/{id}/modules", s.listModules)
		r.With(s.auth(read)).Get("/devices/{id}/modules/", s.listModules)
		r.With(s.auth(read)).Get("/devices/{id}/modules/{mid}", s.getModule)
		r.With(s.auth(write)).Put("/devices/{id}/modules/{mid}", s.putModule)
		r.With(s.auth(write)).Delete("/devices/{id}/modules/{mid}", s.deleteModule)
		if opts.Telemetry != nil {
			r.With(s.auth(svc)).Mount("/emulator/messages/events", opts.Telemetry)
		}
		if opts.Faults != nil {
			fh := faults.NewHandler(opts.Faults, nil)
			r.With(s.auth(svc)).Handle("/emulator/faults", fh)
			r.With(s.auth(svc)).Handle("/emulator/faults/*", fh)
		}
		if opts.Seed != nil {
			r.With(s.authByMethod(read, write)).Mount("/emulator", opts.Seed)
		}
		if c := opts.C2D; c != nil {
			emu := http.StripPrefix("/emulator", c)
			r.With(s.auth(svc)).Handle("/emulator/devices/{id}/messages/devicebound", emu)
			r.With(s.auth(svc)).Handle("/emulator/messages/feedback", emu)
			r.With(s.auth(svc)).Delete("/devices/{id}/commands", c.ServeHTTP)
			r.With(s.auth(svc)).Handle("/messages/serviceBound/feedback", c)
			r.With(s.auth(svc)).Handle("/messages/serviceBound/feedback/*", c)
		}
		for _, p := range []string{"/twins/{id}", "/twins/{id}/modules/{mid}"} {
			r.With(s.auth(svc|read)).Get(p, s.getTwin)
			r.With(s.auth(svc)).Patch(p, s.updateTwin(false))
			r.With(s.auth(svc)).Put(p, s.updateTwin(true))
			r.With(s.auth(svc)).Post(p+"/methods", s.invokeMethod)
		}
	})
	return r
}

// rawPathRouting routes on the escaped path, so an id holding '%', '#' or
// '?' (sent percent-encoded) is one path segment; handlers unescape params.
func (s *server) rawPathRouting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.RoutePath = r.URL.EscapedPath()
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, errcode.New(errcode.ServerError, "The server encountered an internal error."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	sr.status = code
	sr.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection, so streamed
// responses (server-sent events) can flush.
func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.requests.Inc(strconv.Itoa(rec.status))
		s.log.Debug("request", "method", r.Method, "path", r.URL.EscapedPath(), "status", rec.status, "duration", time.Since(start))
	})
}

func (s *server) auth(need registry.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := s.hub.AuthorizeService(r.Header.Get("Authorization"), r.URL.Path, need); err != nil {
				s.writeError(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// authByMethod asks reads (GET, HEAD) for one permission and writes for another.
func (s *server) authByMethod(read, write registry.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			need := write
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				need = read
			}
			s.auth(need)(next).ServeHTTP(w, r)
		})
	}
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "starting\n")
		return
	}
	io.WriteString(w, "ok\n")
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of this hub.", r.Method, r.URL.Path))
}

// writeError renders err as IoT Hub's REST error: the body the SDKs parse
// and the iothub-errorcode header.
func (s *server) writeError(w http.ResponseWriter, err error) {
	e := errcode.From(err)
	if e.Code == errcode.ServerError && e.Err != nil {
		s.log.Error("internal error", "err", e.Err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("iothub-errorcode", e.Code.Name())
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(e.RESTBody(s.now()))
}

func (s *server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ServerError, err, "could not encode the response"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// readBody reads a bounded request body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errcode.New(errcode.MessageTooLarge, "The request body is larger than %d bytes.", maxBody)
	}
	if err != nil {
		return nil, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read.")
	}
	return b, nil
}

// ids returns the device id and (on module routes) the module id of the
// URL, percent-decoded.
func ids(r *http.Request) (deviceID, moduleID string, err error) {
	deviceID, err = url.PathUnescape(chi.URLParam(r, "id"))
	if err == nil {
		moduleID, err = url.PathUnescape(chi.URLParam(r, "mid"))
	}
	if err != nil {
		return "", "", errcode.New(errcode.ArgumentInvalid, "An id in the URL is not validly percent-encoded.")
	}
	return deviceID, moduleID, nil
}

func intHeader(r *http.Request, name string) (int, error) {
	v := r.Header.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errcode.New(errcode.ArgumentInvalid, "Header %s must be a non-negative integer, not %q.", name, v)
	}
	return n, nil
}
