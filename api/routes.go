package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// A route is one row of the API's route table: a method and a chi pattern
// (matched against the escaped path), the handler, what the caller's
// credentials must allow, and the class IoT Hub throttles the operation as.
type route struct {
	method  string // anyMethod: every method no other row names for the pattern
	pattern string
	handler http.HandlerFunc
	access  access
	class   faults.Operation // unthrottled: never throttled
}

const (
	// anyMethod is the method of a row that takes every method the table
	// names no row for on its pattern (and methods chi does not know).
	anyMethod = "*"
	// unthrottled is the class of a route IoT Hub does not throttle.
	unthrottled faults.Operation = ""
)

// access is what a route asks of the caller's credentials: read of GET and
// HEAD requests, write of the others, or nothing at all when public.
type access struct {
	public      bool
	read, write registry.Permission
	// provisioning, when set, checks the provisioning service's
	// credentials instead of the hub's policies (see dps.go).
	provisioning provisioningAccess
	// device, when set, checks a device's credentials for the URL's
	// identity instead (see devicehttp.go).
	device bool
}

// public routes need no credentials.
var public = access{public: true}

// asDevice routes take the SAS token of the device (or module) the URL names.
var asDevice = access{device: true}

// need asks for p whatever the method.
func need(p registry.Permission) access { return access{read: p, write: p} }

// byMethod asks reads (GET, HEAD) for one permission and writes for another.
func byMethod(read, write registry.Permission) access {
	return access{read: read, write: write}
}

// of is the permission a request with method needs.
func (a access) of(method string) registry.Permission {
	if method == http.MethodGet || method == http.MethodHead {
		return a.read
	}
	return a.write
}

// routes is the API's route table. Adding an endpoint is one row here plus
// its handler. Rows whose handler is s.notFound serve nothing: some keep
// the 404s under a prefix behind the prefix's credentials, others are paths
// no endpoint serves that IoT Hub still throttles (it throttles by path),
// which answer 404 but count against their class.
func (s *server) routes(opts Options) []route {
	read, write, svc := registry.RegistryRead, registry.RegistryWrite, registry.ServiceConnect
	reg, twinRead, twinUpdate, methods := faults.RegistryOperations, faults.TwinReads, faults.TwinUpdates, faults.DirectMethods

	// What a path under /emulator that no row names asks for.
	emulatorRest := public
	if opts.Seed != nil {
		emulatorRest = byMethod(read, write)
	}

	rs := []route{
		{"GET", "/healthz", s.healthz, public, unthrottled},

		// The identity registry: every method on these paths is a
		// registry operation, also the ones no route serves.
		{"GET", "/devices", s.listDevices, need(read), reg},
		{"GET", "/devices/", s.listDevices, need(read), reg},
		{"POST", "/devices", s.bulkRegistry, need(write), reg},
		{"POST", "/devices/", s.bulkRegistry, need(write), reg},
		{anyMethod, "/devices", s.notFound, public, reg},
		{anyMethod, "/devices/", s.notFound, public, reg},
		{"GET", "/devices/{id}", s.getDevice, need(read), reg},
		{"PUT", "/devices/{id}", s.putDevice, need(write), reg},
		{"DELETE", "/devices/{id}", s.deleteDevice, need(write), reg},
		{anyMethod, "/devices/{id}", s.notFound, public, reg},
		{anyMethod, "/devices/{id}/", s.notFound, public, reg},
		{"GET", "/devices/{id}/modules", s.listModules, need(read), reg},
		{"GET", "/devices/{id}/modules/", s.listModules, need(read), reg},
		{anyMethod, "/devices/{id}/modules", s.notFound, public, reg},
		{anyMethod, "/devices/{id}/modules/", s.notFound, public, reg},
		{"GET", "/devices/{id}/modules/{mid}", s.getModule, need(read), reg},
		{"PUT", "/devices/{id}/modules/{mid}", s.putModule, need(write), reg},
		{"DELETE", "/devices/{id}/modules/{mid}", s.deleteModule, need(write), reg},
		{anyMethod, "/devices/{id}/modules/{mid}", s.notFound, public, reg},
		{anyMethod, "/devices/{id}/modules/{mid}/", s.notFound, public, reg},

		// Queries; a GET of /devices/query reads a device named "query".
		{"POST", "/devices/query", s.query, need(svc | read), faults.Queries},
		{"POST", "/devices/query/", s.notFound, public, faults.Queries},

		// Twins and direct methods, of devices and of modules.
		{"GET", "/twins/{id}", s.getTwin, need(svc | read), twinRead},
		{"PATCH", "/twins/{id}", s.updateTwin(false), need(svc), twinUpdate},
		{"PUT", "/twins/{id}", s.updateTwin(true), need(svc), twinUpdate},
		{"POST", "/twins/{id}/methods", s.invokeMethod, need(svc), methods},
		{"GET", "/twins/{id}/modules/{mid}", s.getTwin, need(svc | read), twinRead},
		{"PATCH", "/twins/{id}/modules/{mid}", s.updateTwin(false), need(svc), twinUpdate},
		{"PUT", "/twins/{id}/modules/{mid}", s.updateTwin(true), need(svc), twinUpdate},
		{"POST", "/twins/{id}/modules/{mid}/methods", s.invokeMethod, need(svc), methods},
		{"GET", "/twins/{id}/", s.notFound, public, twinRead},
		{"PATCH", "/twins/{id}/", s.notFound, public, twinUpdate},
		{"PUT", "/twins/{id}/", s.notFound, public, twinUpdate},
		{"POST", "/twins/{id}/methods/", s.notFound, public, methods},
		{"GET", "/twins/{id}/modules/{mid}/", s.notFound, public, twinRead},
		{"PATCH", "/twins/{id}/modules/{mid}/", s.notFound, public, twinUpdate},
		{"PUT", "/twins/{id}/modules/{mid}/", s.notFound, public, twinUpdate},
		{"POST", "/twins/{id}/modules/{mid}/methods/", s.notFound, public, methods},

		// Digital twins (IoT Plug and Play): views of device twins and methods.
		{"GET", "/digitaltwins/{id}", s.getDigitalTwin, need(svc | read), twinRead},
		{"PATCH", "/digitaltwins/{id}", s.patchDigitalTwin, need(svc), twinUpdate},
		{"POST", "/digitaltwins/{id}/commands/{command}", s.invokeCommand, need(svc), methods},
		{"POST", "/digitaltwins/{id}/components/{component}/commands/{command}", s.invokeCommand, need(svc), methods},

		{"GET", "/statistics/devices", s.registryStatistics, need(read), unthrottled},
		{"GET", "/statistics/service", s.serviceStatistics, need(svc), unthrottled},

		// Jobs and automatic device management: what no row serves is still throttled.
		{anyMethod, "/jobs", s.notFound, public, faults.JobsOperations},
		{anyMethod, "/jobs/*", s.notFound, public, faults.JobsOperations},
		{anyMethod, "/configurations", s.notFound, public, faults.Configurations},
		{anyMethod, "/configurations/*", s.notFound, public, faults.Configurations},

		// The emulator's own endpoints.
		{"POST", "/emulator/reset", s.reset, need(write), unthrottled},
	}
	if len(opts.CAPEM) > 0 {
		rs = append(rs, route{"GET", "/emulator/ca.pem", s.caPEM(opts.CAPEM), public, unthrottled})
	}
	if opts.Metrics != nil {
		rs = append(rs, route{"GET", "/emulator/metrics", s.metricsText(opts), public, unthrottled})
	}
	if opts.Clients != nil {
		rs = append(rs, route{"GET", "/emulator/clients", s.clients(opts.Clients), need(svc | read), unthrottled})
	}
	if opts.Seed != nil {
		rs = append(rs,
			route{"GET", "/emulator/export", s.seedExport, need(read), unthrottled},
			route{"POST", "/emulator/import", s.seedImport, need(write), unthrottled},
			route{anyMethod, "/emulator", s.notFound, emulatorRest, unthrottled},
			route{anyMethod, "/emulator/", s.notFound, emulatorRest, unthrottled},
			route{anyMethod, "/emulator/*", s.notFound, emulatorRest, unthrottled},
		)
	}
	if opts.Telemetry != nil {
		rs = append(rs,
			route{"GET", "/emulator/messages/events", s.telemetryPage, need(svc), unthrottled},
			route{"GET", "/emulator/messages/events/", s.telemetryPage, need(svc), unthrottled},
			route{"GET", "/emulator/messages/events/stream", s.telemetryStream, need(svc), unthrottled},
			route{"GET", "/emulator/messages/events/stream/", s.telemetryStream, need(svc), unthrottled},
			route{anyMethod, "/emulator/messages/events", s.notFound, need(svc), unthrottled},
			route{anyMethod, "/emulator/messages/events/*", s.notFound, need(svc), unthrottled},
		)
	}
	if opts.Faults != nil {
		for _, p := range []string{"/emulator/faults", "/emulator/faults/"} {
			rs = append(rs,
				route{"GET", p, s.faultsList, need(svc), unthrottled},
				route{"POST", p, s.faultsAdd, need(svc), unthrottled},
				route{"DELETE", p, s.faultsClear, need(svc), unthrottled},
			)
		}
		for _, p := range []string{"/emulator/faults/{id}", "/emulator/faults/{id}/"} {
			rs = append(rs,
				route{"GET", p, s.faultsGet, need(svc), unthrottled},
				route{"DELETE", p, s.faultsRemove, need(svc), unthrottled},
			)
		}
		rs = append(rs,
			route{anyMethod, "/emulator/faults", s.faultsNotFound, need(svc), unthrottled},
			route{anyMethod, "/emulator/faults/*", s.faultsNotFound, need(svc), unthrottled},
		)
	}

	// Cloud-to-device sends are throttled also where no route serves them:
	// with a trailing slash, or with the endpoints off.
	send, sendAccess := s.notFound, emulatorRest
	if opts.C2D != nil {
		send, sendAccess = s.c2dSend, need(svc)
	}
	rs = append(rs,
		route{"POST", "/emulator/devices/{id}/messages/devicebound", send, sendAccess, faults.C2DSends},
		route{"POST", "/emulator/devices/{id}/messages/devicebound/", s.notFound, emulatorRest, faults.C2DSends},
	)
	if opts.C2D != nil {
		// HEAD is answered as GET, as these endpoints always have been.
		rs = append(rs,
			route{"GET", "/emulator/devices/{id}/messages/devicebound", s.c2dList, need(svc), unthrottled},
			route{"HEAD", "/emulator/devices/{id}/messages/devicebound", s.c2dList, need(svc), unthrottled},
			route{anyMethod, "/emulator/devices/{id}/messages/devicebound", s.notFound, need(svc), unthrottled},
			route{"GET", "/emulator/messages/feedback", s.c2dAllFeedback, need(svc), unthrottled},
			route{"HEAD", "/emulator/messages/feedback", s.c2dAllFeedback, need(svc), unthrottled},
			route{anyMethod, "/emulator/messages/feedback", s.notFound, need(svc), unthrottled},
			route{"DELETE", "/devices/{id}/commands", s.c2dPurge, need(svc), unthrottled},
			route{"GET", "/messages/serviceBound/feedback", s.c2dReceiveFeedback, need(svc), unthrottled},
			route{"HEAD", "/messages/serviceBound/feedback", s.c2dReceiveFeedback, need(svc), unthrottled},
			route{anyMethod, "/messages/serviceBound/feedback", s.notFound, need(svc), unthrottled},
			route{"DELETE", "/messages/serviceBound/feedback/{lockToken}", s.c2dCompleteFeedback, need(svc), unthrottled},
			route{"POST", "/messages/serviceBound/feedback/{lockToken}/abandon", s.c2dAbandonFeedback, need(svc), unthrottled},
			route{anyMethod, "/messages/serviceBound/feedback/*", s.notFound, need(svc), unthrottled},
		)
	}
	rs = append(rs, s.deviceRoutes(opts)...)
	if opts.Provisioning != nil {
		rs = append(rs, s.provisioningRoutes()...)
	}
	if opts.Jobs != nil {
		rs = append(rs, s.jobRoutes()...)
	}
	if opts.Configurations != nil {
		rs = append(rs, s.configurationRoutes()...)
	}
	if opts.ImportExport != nil {
		rs = append(rs, s.importExportRoutes()...)
	}
	return rs
}

// routeKey names a row by method and pattern.
func routeKey(method, pattern string) string { return method + " " + pattern }

// mount registers the table on r, each row's handler behind its throttle
// (first, so requests refused for bad credentials count against a tier's
// rates too) and its authorization. It also keeps the rows by routeKey,
// and the any-method rows in a router of their own, for methodNotAllowed.
// It panics on a row that repeats another or forgets its access.
func (s *server) mount(r chi.Router, rs []route) {
	s.table = make(map[string]route, len(rs))
	s.anyMethodRoutes = chi.NewRouter()
	for _, rt := range rs {
		k := routeKey(rt.method, rt.pattern)
		if _, dup := s.table[k]; dup {
			panic("api: route " + k + " is in the table twice")
		}
		if !rt.access.public && !rt.access.device && rt.access.provisioning == hubAccess && (rt.access.read == 0 || rt.access.write == 0) {
			panic("api: route " + k + " names no permission and is not public")
		}
		s.table[k] = rt
	}
	// chi gives an any-method pattern's methods to the rows registered for
	// them afterwards, not before: register the any-method rows first.
	for _, anyFirst := range []bool{true, false} {
		for _, rt := range rs {
			if (rt.method == anyMethod) != anyFirst {
				continue
			}
			var h http.Handler = rt.handler
			switch {
			case rt.access.provisioning != hubAccess:
				h = s.authorizeProvisioning(rt.access)(h)
			case rt.access.device:
				h = s.authorizeDevice(h)
			case !rt.access.public:
				h = s.authorize(rt.access)(h)
			}
			if rt.class != unthrottled && s.faults != nil {
				h = s.throttle(rt.class)(h)
			}
			if rt.method == anyMethod {
				r.Handle(rt.pattern, h)
				s.anyMethodRoutes.Handle(rt.pattern, http.NotFoundHandler())
			} else {
				r.Method(rt.method, rt.pattern, h)
			}
		}
	}
}

// anyMethodRoute is the any-method row whose pattern matches the escaped
// path, if any.
func (s *server) anyMethodRoute(path string) (route, bool) {
	p := s.anyMethodRoutes.Find(chi.NewRouteContext(), http.MethodGet, path)
	if p == "" {
		return route{}, false
	}
	rt, ok := s.table[routeKey(anyMethod, p)]
	return rt, ok
}

// methodNotAllowed answers a method no row on the path takes. chi also
// sends here, unrouted, every method it does not know (it routes only the
// standard ones): such a request is still throttled as the path's
// any-method row is, before its 404.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	rt, ok := s.anyMethodRoute(routePath(r))
	if ok && !s.admit(w, rt.class) {
		return
	}
	if s.isProvisioningPath(routePath(r)) {
		// DPS's own rows answer its 404s and 405s in its error body.
		if ok {
			rt.handler(w, r)
		} else {
			s.provisioningNotFound(w, r)
		}
		return
	}
	s.notFound(w, r)
}

// routePath is the path the router matched r against.
func routePath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath
	}
	return r.URL.EscapedPath()
}

// throttle answers 429 ThrottlingException when class is throttled by a
// fault or over the attached tier's rate.
func (s *server) throttle(class faults.Operation) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.admit(w, class) {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// admit reports whether an operation of class may proceed; if not, it has
// answered the request.
func (s *server) admit(w http.ResponseWriter, class faults.Operation) bool {
	if class == unthrottled || s.faults == nil {
		return true
	}
	if err := s.faults.Admit(class); err != nil {
		s.writeError(w, err)
		return false
	}
	return true
}

// authorize checks the caller's credentials against the path as routed.
func (s *server) authorize(a access) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path, err := routedPath(r)
			if err == nil {
				err = s.hub.AuthorizeService(r.Header.Get("Authorization"), path, a.of(r.Method))
			}
			if err != nil {
				s.writeError(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (s *server) caPEM(pem []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(pem)
	}
}

func (s *server) metricsText(opts Options) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := opts.Metrics.WriteText(w); err != nil {
			s.log.Debug("metrics write", "err", err)
		}
	}
}

func (s *server) clients(l ClientLister) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, l.Clients())
	}
}
