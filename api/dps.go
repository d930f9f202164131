package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The Device Provisioning Service's REST APIs, served beside the hub's on
// the same port (their paths do not collide):
//
//	service API, authorized by the provisioning service's own policy:
//	PUT|GET|DELETE /enrollments/{id}                       200 enrollment | 200 | 204
//	POST           /enrollments                            bulk: 200 BulkResult
//	POST           /enrollments/query                      200 [enrollment...]
//	POST           /enrollments/{id}/attestationmechanism  200 attestation
//	the same for /enrollmentGroups (without bulk)
//	GET|DELETE     /registrations/{id}                     200 state | 204
//	POST           /registrations/{groupId}/query          200 [state...]
//
//	device API, authorized by the registering device's credential:
//	PUT /{idScope}/registrations/{registrationId}/register                  202 operation
//	GET /{idScope}/registrations/{registrationId}/operations/{operationId}  200 (202 while assigning)
//
// Every refusal on these paths, also one made before routing, is written
// as DPS's error body, never the hub's.

// provisioningAccess says which credentials a route checks: the hub's
// policies (the zero value), the provisioning service's policy, or the
// device credential a registration presents.
type provisioningAccess int

const (
	hubAccess provisioningAccess = iota
	provisioningServiceAccess
	provisioningDeviceAccess
)

var (
	// provisioningService routes are authorized by dps.Service.AuthorizeService.
	provisioningService = access{provisioning: provisioningServiceAccess}
	// provisioningDevice routes need a device credential, which the service
	// checks against the enrollment when it handles the request.
	provisioningDevice = access{provisioning: provisioningDeviceAccess}
)

// provisioningMethodNotAllowed is DPS's 405; the hub's catalogue has no
// such code because IoT Hub answers a wrong method 404.
const provisioningMethodNotAllowed errcode.Code = 405000

// provisioningAPIVersions are the api-versions the official SDKs send to
// DPS (the device clients 2019-03-31, the service clients 2021-10-01);
// strict mode refuses others on DPS paths.
var provisioningAPIVersions = []string{"2019-03-31", "2021-10-01"}

// KnownProvisioningAPIVersion reports whether v is an api-version strict
// mode accepts on the provisioning service's paths.
func KnownProvisioningAPIVersion(v string) bool { return slices.Contains(provisioningAPIVersions, v) }

// provisioningRoutes are the DPS rows of the route table. None is
// throttled: the hub's tiers do not cover DPS.
func (s *server) provisioningRoutes() []route {
	svc, dev, un := provisioningService, provisioningDevice, unthrottled
	rs := []route{
		{"POST", "/enrollments", s.bulkEnrollments, svc, un},
		{"POST", "/enrollments/", s.bulkEnrollments, svc, un}, // the Node service client's path
		{"POST", "/enrollments/query", s.queryEnrollments, svc, un},
		{"PUT", "/enrollments/{id}", s.putEnrollment(false), svc, un},
		{"GET", "/enrollments/{id}", s.getEnrollment(false), svc, un},
		{"DELETE", "/enrollments/{id}", s.deleteEnrollment(false), svc, un},
		{"POST", "/enrollments/{id}/attestationmechanism", s.enrollmentAttestation(false), svc, un},

		{"POST", "/enrollmentGroups/query", s.queryEnrollmentGroups, svc, un},
		{"PUT", "/enrollmentGroups/{id}", s.putEnrollment(true), svc, un},
		{"GET", "/enrollmentGroups/{id}", s.getEnrollment(true), svc, un},
		{"DELETE", "/enrollmentGroups/{id}", s.deleteEnrollment(true), svc, un},
		{"POST", "/enrollmentGroups/{id}/attestationmechanism", s.enrollmentAttestation(true), svc, un},

		{"GET", "/registrations/{id}", s.getRegistration, svc, un},
		{"DELETE", "/registrations/{id}", s.deleteRegistration, svc, un},
		{"POST", "/registrations/{id}/query", s.queryRegistrations, svc, un},

		{"PUT", "/{idScope}/registrations/{rid}/register", s.register, dev, un},
		{"GET", "/{idScope}/registrations/{rid}/operations/{opid}", s.operationStatus, dev, un},
	}
	// A wrong method on a served path is DPS's 405.
	seen := map[string]bool{}
	for _, rt := range slices.Clone(rs) {
		if !seen[rt.pattern] {
			seen[rt.pattern] = true
			rs = append(rs, route{anyMethod, rt.pattern, s.provisioningWrongMethod, public, un})
		}
	}
	// Anything else under DPS's prefixes is DPS's 404.
	for _, p := range []string{"/enrollments/*", "/enrollmentGroups", "/enrollmentGroups/", "/enrollmentGroups/*",
		"/registrations", "/registrations/", "/registrations/*", "/{idScope}/registrations", "/{idScope}/registrations/*"} {
		rs = append(rs, route{anyMethod, p, s.provisioningNotFound, public, un})
	}
	return rs
}

// provisioningCollections are the first segments of DPS's service paths,
// which DPS matches regardless of case (the Node service client asks for
// /enrollmentgroups/{id}/attestationmechanism).
var provisioningCollections = []string{"enrollments", "enrollmentGroups", "registrations"}

// canonicalProvisioningPath spells the first segment of a DPS service
// path as the route table does.
func canonicalProvisioningPath(escaped string) string {
	first, rest, _ := strings.Cut(strings.TrimPrefix(escaped, "/"), "/")
	for _, c := range provisioningCollections {
		if first != c && strings.EqualFold(first, c) {
			if rest == "" && !strings.HasSuffix(escaped, "/") {
				return "/" + c
			}
			return "/" + c + "/" + rest
		}
	}
	return escaped
}

// isProvisioningPath reports whether an escaped path is one of DPS's, so
// that a refusal made before routing is written as DPS's error.
func (s *server) isProvisioningPath(path string) bool {
	if s.prov == nil {
		return false
	}
	segs := strings.Split(strings.TrimPrefix(canonicalProvisioningPath(path), "/"), "/")
	switch segs[0] {
	case "enrollments", "enrollmentGroups", "registrations":
		return true
	}
	return len(segs) > 1 && segs[1] == "registrations" && !s.isHubSegment(segs[0])
}

// isHubSegment reports whether a first path segment is one of the hub's
// own, which no ID scope shadows.
func (s *server) isHubSegment(seg string) bool {
	switch seg {
	case "devices", "twins", "emulator", "jobs", "configurations", "statistics", "messages", "healthz", "$iothub":
		return true
	}
	return false
}

// fail writes err as the error body of the API the request is for.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if s.isProvisioningPath(r.URL.EscapedPath()) {
		s.writeProvisioningError(w, err)
		return
	}
	s.writeError(w, err)
}

// writeProvisioningError renders err as DPS's error body: errorCode,
// trackingId, message and timestampUtc, with the code's HTTP status.
func (s *server) writeProvisioningError(w http.ResponseWriter, err error) {
	e := errcode.From(err)
	if e.Code == errcode.ServerError && e.Err != nil {
		s.log.Error("internal error", "err", e.Err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(e.ProvisioningBody(s.now()))
}

func (s *server) provisioningNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeProvisioningError(w, errcode.New(errcode.ProvisioningNotFound, "%s %s is not an operation of this provisioning service.", r.Method, r.URL.Path))
}

func (s *server) provisioningWrongMethod(w http.ResponseWriter, r *http.Request) {
	s.writeProvisioningError(w, errcode.New(provisioningMethodNotAllowed, "The method %s is not allowed on %s.", r.Method, r.URL.Path))
}

// authorizeProvisioning checks a DPS route's credentials before its
// handler runs: the service policy's SAS token, or that a device presents
// a credential at all (the service matches it against the enrollment).
func (s *server) authorizeProvisioning(a access) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var err error
			switch a.provisioning {
			case provisioningServiceAccess:
				err = s.prov.AuthorizeService(r.Header.Get("Authorization"))
			case provisioningDeviceAccess:
				if c := deviceCredential(r); c.Token == "" && len(c.Chain) == 0 {
					err = errcode.New(errcode.ProvisioningUnauthorized, "The registration presents neither a SharedAccessSignature in its Authorization header nor a TLS client certificate.")
				}
			}
			if err != nil {
				s.writeProvisioningError(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deviceCredential is what a registering device presents: its SAS token,
// and the client certificates of its TLS connection (the service prefers
// the token when there are both).
func deviceCredential(r *http.Request) dps.Credential {
	c := dps.Credential{Token: strings.TrimSpace(r.Header.Get("Authorization"))}
	if r.TLS != nil {
		c.Chain = r.TLS.PeerCertificates
	}
	return c
}

// provisioning adapts a DPS handler that returns its status and result or
// an error; a nil result answers the status with no body.
func (s *server) provisioning(fn func(r *http.Request, id string) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := param(r, "id")
		if err != nil {
			s.writeProvisioningError(w, err)
			return
		}
		status, out, err := fn(r, id)
		switch {
		case err != nil:
			s.writeProvisioningError(w, err)
		case out == nil:
			w.WriteHeader(status)
		default:
			s.writeProvisioningJSON(w, status, out)
		}
	}
}

func (s *server) writeProvisioningJSON(w http.ResponseWriter, status int, v any) {
	if e, ok := v.(*dps.Enrollment); ok && e.ETag != "" {
		w.Header().Set("ETag", e.ETag)
	}
	s.writeJSON(w, status, v)
}

func (s *server) putEnrollment(group bool) http.HandlerFunc {
	return s.provisioning(func(r *http.Request, id string) (int, any, error) {
		body, err := readBody(r)
		if err != nil {
			return 0, nil, err
		}
		put := s.prov.PutEnrollment
		if group {
			put = s.prov.PutEnrollmentGroup
		}
		e, err := put(r.Context(), id, body, ifMatch(r))
		return http.StatusOK, e, err
	})
}

func (s *server) getEnrollment(group bool) http.HandlerFunc {
	return s.provisioning(func(r *http.Request, id string) (int, any, error) {
		get := s.prov.GetEnrollment
		if group {
			get = s.prov.GetEnrollmentGroup
		}
		e, err := get(id)
		return http.StatusOK, e, err
	})
}

func (s *server) deleteEnrollment(group bool) http.HandlerFunc {
	return s.provisioning(func(r *http.Request, id string) (int, any, error) {
		del := s.prov.DeleteEnrollment
		if group {
			del = s.prov.DeleteEnrollmentGroup
		}
		return http.StatusNoContent, nil, del(r.Context(), id, ifMatch(r))
	})
}

func (s *server) enrollmentAttestation(group bool) http.HandlerFunc {
	return s.provisioning(func(r *http.Request, id string) (int, any, error) {
		get := s.prov.EnrollmentAttestation
		if group {
			get = s.prov.EnrollmentGroupAttestation
		}
		a, err := get(id)
		return http.StatusOK, a, err
	})
}

func (s *server) bulkEnrollments(w http.ResponseWriter, r *http.Request) {
	s.provisioning(func(r *http.Request, _ string) (int, any, error) {
		body, err := readBody(r)
		if err != nil {
			return 0, nil, err
		}
		res, err := s.prov.Bulk(r.Context(), body)
		return http.StatusOK, res, err
	})(w, r)
}

func (s *server) getRegistration(w http.ResponseWriter, r *http.Request) {
	s.provisioning(func(r *http.Request, id string) (int, any, error) {
		st, err := s.prov.GetRegistration(id)
		return http.StatusOK, st, err
	})(w, r)
}

func (s *server) deleteRegistration(w http.ResponseWriter, r *http.Request) {
	s.provisioning(func(r *http.Request, id string) (int, any, error) {
		return http.StatusNoContent, nil, s.prov.DeleteRegistration(r.Context(), id, ifMatch(r))
	})(w, r)
}

// DPS's item types of query pages.
const (
	itemEnrollment         = "Enrollment"
	itemEnrollmentGroup    = "EnrollmentGroup"
	itemDeviceRegistration = "DeviceRegistration"
)

func (s *server) queryEnrollments(w http.ResponseWriter, r *http.Request) {
	s.queryPage(w, r, itemEnrollment, func(_ string, body []byte, size int, cont string) (dps.Page, error) {
		return s.prov.QueryEnrollments(body, size, cont)
	})
}

func (s *server) queryEnrollmentGroups(w http.ResponseWriter, r *http.Request) {
	s.queryPage(w, r, itemEnrollmentGroup, func(_ string, body []byte, size int, cont string) (dps.Page, error) {
		return s.prov.QueryEnrollmentGroups(body, size, cont)
	})
}

func (s *server) queryRegistrations(w http.ResponseWriter, r *http.Request) {
	s.queryPage(w, r, itemDeviceRegistration, s.prov.QueryGroupRegistrations)
}

// queryPage serves a DPS query: x-ms-max-item-count and x-ms-continuation
// in, the page as a JSON array out with x-ms-item-type and, unless it is
// the last, x-ms-continuation.
func (s *server) queryPage(w http.ResponseWriter, r *http.Request, itemType string, q func(id string, body []byte, size int, cont string) (dps.Page, error)) {
	id, err := param(r, "id")
	if err == nil {
		var body []byte
		var size int
		if body, err = readBody(r); err == nil {
			if size, err = intHeader(r, "x-ms-max-item-count"); err == nil {
				var page dps.Page
				if page, err = q(id, body, size, r.Header.Get("x-ms-continuation")); err == nil {
					w.Header().Set("x-ms-item-type", itemType)
					if page.Continuation != "" {
						w.Header().Set("x-ms-continuation", page.Continuation)
					}
					s.writeJSON(w, http.StatusOK, page.Items)
					return
				}
			}
		}
	}
	s.writeProvisioningError(w, err)
}

// register is a device's registration request.
func (s *server) register(w http.ResponseWriter, r *http.Request) {
	scope, rid, err := s.deviceParams(r)
	if err != nil {
		s.writeProvisioningError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeProvisioningError(w, err)
		return
	}
	op, err := s.prov.Register(r.Context(), scope, rid, deviceCredential(r), body)
	if err != nil {
		s.writeProvisioningError(w, err)
		return
	}
	// The outcome is ready at once, so the device may poll at once, as
	// over MQTT.
	w.Header().Set("Retry-After", "0")
	s.writeJSON(w, http.StatusAccepted, op)
}

// operationStatus is a device's poll of its registration operation.
func (s *server) operationStatus(w http.ResponseWriter, r *http.Request) {
	scope, rid, err := s.deviceParams(r)
	var opID string
	if err == nil {
		opID, err = param(r, "opid")
	}
	if err != nil {
		s.writeProvisioningError(w, err)
		return
	}
	op, err := s.prov.OperationStatus(scope, rid, opID, deviceCredential(r))
	if err != nil {
		s.writeProvisioningError(w, err)
		return
	}
	status := http.StatusOK
	if op.Status == dps.RegAssigning {
		w.Header().Set("Retry-After", "1")
		status = http.StatusAccepted
	}
	s.writeJSON(w, status, op)
}

func (s *server) deviceParams(r *http.Request) (scope, registrationID string, err error) {
	if scope, err = param(r, "idScope"); err != nil {
		return "", "", err
	}
	registrationID, err = param(r, "rid")
	return scope, registrationID, err
}
