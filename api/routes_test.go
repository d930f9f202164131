package api

import (
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/store"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/seed"
)

// fullAPI is the API with every optional endpoint on, as the emulator
// serves it.
type fullAPI struct {
	s      *server
	mux    *chi.Mux
	hub    *hub.Hub
	faults *faults.Injector
	clock  *testkit.Clock
}

func everyOption(t testing.TB) fullAPI { return everyOptionWithTier(t, nil) }

// everyOptionWithTier is everyOption with a tier's throttles.
func everyOptionWithTier(t testing.TB, tier *faults.Limiter) fullAPI {
	t.Helper()
	h := openHub(t)
	l, err := d2c.Open(d2c.Options{Store: store.OpenMemory()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c := newClock()
	inj, err := faults.New(faults.Options{Now: c.Now, Limiter: tier, Dropper: faults.DropperFunc(func(string, string) {})})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := dps.Open(dps.Options{Store: store.OpenMemory(), Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	s, r := newServer(h, Options{
		Telemetry: l, C2D: h.C2D(), Seed: seed.NewSeeder(h), Faults: inj, Provisioning: prov,
		CAPEM: []byte("-----BEGIN CERTIFICATE-----\n"), Metrics: metrics.New(), Clients: devicelink.NewRouter(),
		Now: c.Now,
	})
	return fullAPI{s: s, mux: r, hub: h, faults: inj, clock: c}
}

// routeOf is the row that serves a request with method to the escaped
// path, if any: what the router runs, found without running it.
func (s *server) routeOf(r chi.Routes, method, path string) (route, bool) {
	if p := r.Find(chi.NewRouteContext(), method, path); p != "" {
		if rt, ok := s.table[routeKey(method, p)]; ok {
			return rt, true
		}
		rt, ok := s.table[routeKey(anyMethod, p)]
		return rt, ok
	}
	return s.anyMethodRoute(path)
}

// classTests are the throttle classes of requests, after IoT Hub's throttle
// table: the class of the route the request takes, also where that route
// only answers 404.
var classTests = []struct {
	method, target string
	want           faults.Operation // "" = never throttled
}{
	{"GET", "/devices?api-version=2021-04-12", faults.RegistryOperations},
	{"GET", "/devices/?top=10", faults.RegistryOperations},
	{"POST", "/devices", faults.RegistryOperations}, // bulk
	{"GET", "/devices/dev1", faults.RegistryOperations},
	{"PUT", "/devices/dev%2F1", faults.RegistryOperations}, // an encoded '/' stays in the id
	{"DELETE", "/devices/dev1", faults.RegistryOperations},
	{"GET", "/devices/dev1/modules", faults.RegistryOperations},
	{"GET", "/devices/dev1/modules/", faults.RegistryOperations},
	{"PUT", "/devices/dev1/modules/m1", faults.RegistryOperations},
	{"POST", "/devices/query", faults.Queries},
	{"GET", "/devices/query", faults.RegistryOperations}, // a device named "query"
	{"DELETE", "/devices/dev1/commands", ""},             // purge
	{"GET", "/twins/dev1", faults.TwinReads},
	{"GET", "/twins/dev1/modules/m1", faults.TwinReads},
	{"PATCH", "/twins/dev1", faults.TwinUpdates},
	{"PUT", "/twins/dev1/modules/m1", faults.TwinUpdates},
	{"DELETE", "/twins/dev1", ""},
	{"POST", "/twins/dev1/methods", faults.DirectMethods},
	{"POST", "/twins/dev1/modules/m1/methods", faults.DirectMethods},
	{"GET", "/twins/dev1/methods", ""},
	{"GET", "/twins", ""},
	{"POST", "/emulator/devices/dev1/messages/devicebound", faults.C2DSends},
	{"GET", "/emulator/devices/dev1/messages/devicebound", ""},
	{"GET", "/emulator/messages/events", ""},
	{"GET", "/emulator/faults", ""},
	{"GET", "/jobs/v2/query", faults.JobsOperations},
	{"GET", "/configurations/?top=10", faults.Configurations},
	{"GET", "/statistics/devices", ""},
	{"GET", "/healthz", ""},
	{"GET", "/$iothub/websocket", ""},
	{"GET", "/", ""},

	// A trailing slash counts as none, though no route serves it.
	{"GET", "/devices/dev1/", faults.RegistryOperations},
	{"PATCH", "/devices/dev1/modules/m1/", faults.RegistryOperations},
	{"POST", "/devices/query/", faults.Queries},
	{"GET", "/twins/dev1/", faults.TwinReads},
	{"PUT", "/twins/dev1/modules/m1/", faults.TwinUpdates},
	{"POST", "/twins/dev1/methods/", faults.DirectMethods},
	{"POST", "/twins/dev1/modules/m1/methods/", faults.DirectMethods},
	{"POST", "/emulator/devices/dev1/messages/devicebound/", faults.C2DSends},
	{"DELETE", "/jobs", faults.JobsOperations},
	{"POST", "/configurations", faults.Configurations},
	// Methods no route takes, and methods the router does not know.
	{"OPTIONS", "/devices/dev1", faults.RegistryOperations},
	{"HEAD", "/twins/dev1", ""},
	{"PROPFIND", "/devices/dev1/modules", faults.RegistryOperations},
	{"get", "/jobs/x", faults.JobsOperations},
	{"get", "/twins/dev1", ""},
	{"PROPFIND", "/emulator/devices/dev1/messages/devicebound", ""},

	// The provisioning service is not throttled, and takes no hub path.
	{"PUT", "/enrollments/e1", ""},
	{"POST", "/enrollments/query", ""},
	{"PUT", "/0ne00000000/registrations/r1/register", ""},
	{"GET", "/devices/registrations", faults.RegistryOperations}, // a device named "registrations"
	{"PUT", "/twins/registrations", faults.TwinUpdates},
}

func TestRouteClasses(t *testing.T) {
	a := everyOption(t)
	for _, tt := range classTests {
		path := httptest.NewRequest("GET", tt.target, nil).URL.EscapedPath()
		rt, ok := a.s.routeOf(a.mux, tt.method, path)
		got := unthrottled
		if ok {
			got = rt.class
		}
		if got != tt.want {
			t.Errorf("%s %s: class %q, want %q (route %q)", tt.method, tt.target, got, tt.want, routeKey(rt.method, rt.pattern))
		}
	}
}

// throttledClass is the class a request was throttled as, or "".
func throttledClass(t *testing.T, h http.Handler, method, target, token string) faults.Operation {
	t.Helper()
	req := httptest.NewRequest("GET", target, strings.NewReader(`{"query":"SELECT * FROM devices"}`))
	req.Method = method
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests {
		return ""
	}
	checkRESTError(t, rec, 429, "ThrottlingException")
	for _, op := range faults.Operations() {
		if strings.Contains(rec.Body.String(), "class "+string(op)+" ") {
			return op
		}
	}
	t.Fatalf("%s %s: 429 names no class: %s", method, target, rec.Body)
	return ""
}

// Over HTTP, with every class throttled, a request is refused as its
// route's class, before authentication, or not at all.
func TestThrottlesFollowTheRouteTable(t *testing.T) {
	a := everyOption(t)
	for _, op := range faults.Operations() {
		if _, err := a.faults.Throttle(op, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range classTests {
		req := httptest.NewRequest("GET", tt.target, nil)
		if _, err := routedPath(req); err != nil {
			continue // refused before routing, so before any throttle
		}
		if got := throttledClass(t, a.mux, tt.method, tt.target, ""); got != tt.want {
			t.Errorf("%s %s: throttled as %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	a := everyOption(t)
	h, f, c, hb := a.mux, a.faults, a.clock, a.hub
	token := ownerToken(t, hb)
	if _, err := hb.PutDevice(testContext(t), "dev1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	do := func(method, target, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, authorized(httptest.NewRequest(method, target, strings.NewReader(body)), token))
		return rec
	}

	if rec := do("GET", "/twins/dev1", ""); rec.Code != 200 {
		t.Fatalf("no fault: %d", rec.Code)
	}
	if _, err := f.Throttle(faults.TwinReads, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkRESTError(t, do("GET", "/twins/dev1", ""), 429, "ThrottlingException")
	checkRESTError(t, do("GET", "/twins/dev1/modules/m1", ""), 429, "ThrottlingException")
	for _, ok := range []struct{ method, target, body string }{
		{"PATCH", "/twins/dev1", `{"tags":{"a":1}}`}, // another class
		{"GET", "/healthz", ""},                      // never classified
		{"GET", "/devices/dev1", ""},
	} {
		if rec := do(ok.method, ok.target, ok.body); rec.Code != 200 {
			t.Errorf("%s %s: %d, want 200", ok.method, ok.target, rec.Code)
		}
	}
	// Before authentication: a request without credentials is throttled too.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/twins/dev1", nil))
	checkRESTError(t, rec, 429, "ThrottlingException")
	c.Advance(10 * time.Second)
	if rec := do("GET", "/twins/dev1", ""); rec.Code != 200 {
		t.Fatalf("after the fault: %d", rec.Code)
	}

	// A throttled request never reaches its handler.
	if _, err := f.Throttle(faults.TwinUpdates, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkRESTError(t, do("PATCH", "/twins/dev1", `{"tags":{"b":2}}`), 429, "ThrottlingException")
	if tw, err := hb.GetTwin(testContext(t), "dev1", ""); err != nil || fmt.Sprint(tw["version"]) != "2" {
		t.Fatalf("twin after a throttled patch: version %v, %v", tw["version"], err)
	}
}

func TestThrottleWithTier(t *testing.T) {
	l, err := faults.NewLimiter("S1")
	if err != nil {
		t.Fatal(err)
	}
	a := everyOptionWithTier(t, l)
	h, c := a.mux, a.clock
	token := ownerToken(t, a.hub)
	do := func(method, target string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, authorized(httptest.NewRequest(method, target, strings.NewReader(`{"query":"SELECT * FROM devices"}`)), token))
		return rec.Code
	}
	codes := []int{}
	for _, target := range []string{"/devices/query", "/devices/query", "/statistics/service", "/devices/query"} {
		method := "POST"
		if strings.HasPrefix(target, "/statistics") {
			method = "GET"
		}
		codes = append(codes, do(method, target))
	}
	if want := []int{200, 429, 200, 429}; !slices.Equal(codes, want) {
		t.Fatalf("codes = %v, want %v (S1 allows one query per 3 s)", codes, want)
	}
	c.Advance(3100 * time.Millisecond)
	if code := do("POST", "/devices/query"); code != 200 {
		t.Fatalf("after the refill: %d", code)
	}
}

// FuzzRouteOf: any method and path find no row or a row whose class is
// one of IoT Hub's.
func FuzzRouteOf(f *testing.F) {
	for _, p := range []string{"/devices/a/modules/b", "/twins/x/methods", "//", "/emulator/devices/a/messages/devicebound", "/twins/a/modules/b/methods/", "", "devices"} {
		f.Add("POST", p)
	}
	a := everyOption(f)
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, ok := a.s.routeOf(a.mux, method, path)
		if !ok || rt.class == unthrottled {
			return
		}
		if _, err := faults.ParseOperation(string(rt.class)); err != nil {
			t.Fatalf("%s %s: unknown class %q", method, path, rt.class)
		}
	})
}
