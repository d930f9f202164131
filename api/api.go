// Package api is the emulator's one REST layer: IoT Hub's service REST API
// (registry, twins, queries, statistics, cloud-to-device) and the
// emulator's own endpoints (telemetry read-back, seeding, fault injection),
// on chi, with SAS authentication and IoT Hub's error bodies.
//
// Every endpoint is a row of one route table (routes.go): method, pattern,
// handler, the permission it needs and the class IoT Hub throttles it as.
// The handlers call the domain packages (hub, d2c, c2d, seed, faults),
// which know nothing of HTTP, and every error body is written by
// writeError.
package api

import (
	"encoding/json"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/configurations"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/importexport"
	"github.com/iothub-emulator/iothub-emulator/jobs"
	"github.com/iothub-emulator/iothub-emulator/jsontext"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/seed"
)

// maxBody bounds a request body; the largest legitimate one (a twin with
// full tags and desired sections) is far smaller.
const maxBody = 1 << 20

// ClientLister lists the live device connections, on every protocol.
type ClientLister interface {
	Clients() []devicelink.ClientInfo
}

// Options configure the API.
type Options struct {
	Logger *slog.Logger
	// Ready reports whether every listener is up; /healthz answers 503 until then.
	Ready func() bool
	// Telemetry, if set, is served by the emulator's device-to-cloud
	// read-back endpoints under /emulator/messages/events, behind
	// ServiceConnect.
	Telemetry *d2c.Log
	// TelemetryHeartbeat is how often an idle event stream gets a comment
	// line; 0 means d2c.DefaultHeartbeat.
	TelemetryHeartbeat time.Duration
	// C2D, if set, is served by the cloud-to-device endpoints (sending and
	// listing under /emulator, purging, feedback), behind ServiceConnect.
	C2D *c2d.Queues
	// Seed, if set, serves GET /emulator/export (RegistryRead: it holds
	// every key) and POST /emulator/import (RegistryWrite). Other paths
	// under /emulator then ask RegistryRead of reads and RegistryWrite of
	// writes before answering 404.
	Seed *seed.Seeder
	// CAPEM, if set, is served without authentication at /emulator/ca.pem,
	// so a client (or a container's host) can fetch the CA to trust.
	CAPEM []byte
	// Faults, if set, is asked to admit every request whose route has a
	// throttle class (refusing it 429 under a throttle fault or over the
	// tier's rates), and is served by the admin API under /emulator/faults.
	Faults *faults.Injector
	// Clients lists the live device connections for GET /emulator/clients.
	Clients ClientLister
	// Metrics is served, without authentication, at /emulator/metrics and
	// counts requests by status.
	Metrics *metrics.Registry
	// Strict refuses api-versions the real hub would refuse; by default any
	// value, or none, is accepted.
	Strict bool
	// Provisioning, if set, is the Device Provisioning Service served
	// beside the hub: its service API (enrollments, enrollment groups,
	// registration states), authorized by its own policy, and its device
	// API (register, operation status), authorized by each device's
	// enrollment. Its paths never collide with the hub's.
	Provisioning *dps.Service
	// BodyReadTimeout bounds reading one request body, so a client that
	// declares a length and trickles bytes cannot hold a connection
	// forever; 0 means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// Jobs, if set, serves the jobs v2 API (scheduled methods and twin
	// updates) under /jobs/v2.
	Jobs *jobs.Manager
	// FileUploads, if set, serves file upload to devices and its
	// notifications under /emulator/messages/filenotifications.
	FileUploads *fileupload.Manager
	// Configurations, if set, serves automatic device management under
	// /configurations.
	Configurations *configurations.Manager
	// ImportExport, if set, serves import and export jobs (/jobs/create,
	// /jobs/{id}).
	ImportExport *importexport.Manager
	Now          func() time.Time
}

// DefaultBodyReadTimeout is generous for the largest body (an import over
// a slow link) and still frees a stalled connection.
const DefaultBodyReadTimeout = 30 * time.Second

type server struct {
	hub       *hub.Hub
	telemetry *d2c.Log
	c2d       *c2d.Queues
	seed      *seed.Seeder
	faults    *faults.Injector
	prov      *dps.Service
	jobs      *jobs.Manager
	files     *fileupload.Manager
	configs   *configurations.Manager
	imports   *importexport.Manager
	// table holds the route table's rows by routeKey, and anyMethodRoutes
	// routes their any-method rows alone (see routeOf).
	table           map[string]route
	anyMethodRoutes *chi.Mux
	heartbeat       time.Duration
	bodyTimeout     time.Duration
	requests        *metrics.CounterVec
	log             *slog.Logger
	ready           func() bool
	now             func() time.Time
}

// New returns the REST API handler.
func New(h *hub.Hub, opts Options) http.Handler {
	_, r := newServer(h, opts)
	return r
}

// newServer builds the API and the router that serves it.
func newServer(h *hub.Hub, opts Options) (*server, *chi.Mux) {
	s := &server{hub: h, log: opts.Logger, ready: opts.Ready, now: opts.Now,
		telemetry: opts.Telemetry, heartbeat: opts.TelemetryHeartbeat, c2d: opts.C2D, seed: opts.Seed, faults: opts.Faults, prov: opts.Provisioning, jobs: opts.Jobs, files: opts.FileUploads,
		configs: opts.Configurations, imports: opts.ImportExport}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bodyTimeout = opts.BodyReadTimeout
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = DefaultBodyReadTimeout
	}

	if opts.Metrics != nil {
		s.requests = opts.Metrics.CounterVec("iothub_rest_requests_total", "REST requests by HTTP status.", "code")
	}

	r := chi.NewRouter()
	r.Use(s.boundBodyRead, s.methodOverride, s.rawPathRouting, s.recoverer, s.logRequests)
	if opts.Strict {
		r.Use(s.strictAPIVersion)
	}
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)
	s.mount(r, s.routes(opts))
	return s, r
}

// boundBodyRead gives a request body a read deadline of its own: the
// server's ReadTimeout would also cut off long-lived responses (server-sent
// events, direct methods waiting on a device), so the deadline is set only
// while the body is being read and lifted once it has been.
func (s *server) boundBodyRead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)); err != nil {
				s.log.Debug("request body read is unbounded", "err", err)
			} else {
				r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the body's read deadline once the body has been read
// to its end.
type deadlineBody struct {
	io.ReadCloser
	lift   func()
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted {
		b.lifted = true
		b.lift()
	}
	return n, err
}

// overridable are the methods a POST may name in X-HTTP-Method-Override.
// The Java service SDK's HTTP client cannot send PATCH, so it sends every
// twin patch as POST with the override, which IoT Hub honours.
var overridable = map[string]bool{http.MethodPatch: true, http.MethodPut: true, http.MethodDelete: true}

// methodOverride applies X-HTTP-Method-Override to a POST before routing,
// so routes, permissions and fault classes all see the intended method.
func (s *server) methodOverride(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-HTTP-Method-Override"))); o != "" && r.Method == http.MethodPost && o != http.MethodPost {
			if !overridable[o] {
				s.fail(w, r, errcode.New(errcode.ArgumentInvalid, "X-HTTP-Method-Override: %s is not supported; a POST may be overridden to PATCH, PUT or DELETE.", o))
				return
			}
			r.Method = o
		}
		next.ServeHTTP(w, r)
	})
}

// rawPathRouting routes on the escaped path, so an id holding '%', '#' or
// '?' (sent percent-encoded) is one path segment; handlers unescape params.
// Authorization then checks the path segment by segment as routed (see
// routedPath), never a decoding that could name another identity.
func (s *server) rawPathRouting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := routedPath(r); err != nil {
			s.fail(w, r, err)
			return
		}
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.RoutePath = r.URL.EscapedPath()
			if s.prov != nil {
				rctx.RoutePath = canonicalProvisioningPath(rctx.RoutePath)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// routedPath is the request path as the router sees it, with each escaped
// segment decoded. A segment that decodes to something holding '/' (an
// encoded slash) or to "." or ".." is refused: no IoT Hub id may hold a
// slash, and a decoded "b/../a" would let a token scoped to device b be
// read as covering device a.
func routedPath(r *http.Request) (string, error) {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", errcode.New(errcode.ArgumentInvalid, "The URL path segment %q is not validly percent-encoded.", seg)
		}
		if strings.Contains(dec, "/") || dec == "." || dec == ".." {
			return "", errcode.New(errcode.ArgumentInvalid, "The URL path segment %q is not a valid id: ids may not hold '/' or be '.' or '..'.", seg)
		}
		segs[i] = dec
	}
	return strings.Join(segs, "/"), nil
}

func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.fail(w, r, errcode.New(errcode.ServerError, "The server encountered an internal error."))
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

// writeError renders err as IoT Hub's REST error: the body the SDKs parse,
// the iothub-errorcode header and the status. It is the one place that
// writes an error body.
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
	b, err := encodeJSON(v)
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ServerError, err, "could not encode the response"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// encodeJSON is json.Marshal(v). Identities, the body of every registry
// write, go through their own encoders, which write the same bytes without
// reflection.
func encodeJSON(v any) ([]byte, error) {
	switch v := v.(type) {
	case registry.Device:
		return v.AppendJSON(make([]byte, 0, 640)), nil
	case registry.Module:
		return v.AppendJSON(make([]byte, 0, 512)), nil
	}
	return json.Marshal(v)
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
	// Every body this API takes is JSON; the decoder would store invalid
	// text as U+FFFD instead of refusing it.
	if err := jsontext.Check(b); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The request body is not valid JSON text: %v.", err)
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

// param is a URL parameter, percent-decoded (the router matches the
// escaped path).
func param(r *http.Request, name string) (string, error) {
	v, err := url.PathUnescape(chi.URLParam(r, name))
	if err != nil {
		return "", errcode.New(errcode.ArgumentInvalid, "The URL parameter %s is not validly percent-encoded.", name)
	}
	return v, nil
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
