package ui

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

const host = "127.0.0.1"

// A policy of the fake API: its key and whether it has each owner right.
type policy struct {
	key                 string
	read, write, svcCon bool
}

var policies = map[string]policy{
	"iothubowner":  {"b3duZXIta2V5LW93bmVyLWtleS1vd25lci1rZXk=", true, true, true},
	"registryRead": {"cmVhZGVyLWtleS1yZWFkZXIta2V5LXJlYWRlcg==", true, false, false},
	"service":      {"c2VydmljZS1rZXktc2VydmljZS1rZXktc2Vydg==", false, false, true},
}

// fakeAPI checks the Authorization of each call as the hub would, roughly
// (GET needs read, other methods write, /statistics/service and /twins
// ServiceConnect), and records the calls it let through.
type fakeAPI struct {
	calls []*http.Request
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := sas.ParseToken(r.Header.Get("Authorization"))
	p, ok := policies[tok.KeyName]
	if err != nil || !ok || !tok.VerifyKey(p.key) || tok.Resource != host {
		http.Error(w, `{"Message":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	allowed := p.write
	switch {
	case strings.HasPrefix(r.URL.Path, "/statistics/service"), strings.HasPrefix(r.URL.Path, "/twins/"):
		allowed = p.svcCon
	case r.Method == http.MethodGet:
		allowed = p.read
	}
	if !allowed {
		http.Error(w, `{"Message":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	f.calls = append(f.calls, r)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

func newServer(requireLogin bool, now func() time.Time) (*Server, *fakeAPI) {
	api := &fakeAPI{}
	return New(Options{
		API:          api,
		Owner:        func() (string, string) { return "iothubowner", policies["iothubowner"].key },
		RequireLogin: requireLogin,
		HostNames:    []string{host, "hub.example.test"},
		Now:          now,
	}), api
}

// client keeps the session cookie and CSRF token between requests, as the
// page does.
type client struct {
	t      *testing.T
	s      *Server
	cookie *http.Cookie
	csrf   string
	tls    bool
}

func (c *client) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	r := httptest.NewRequest(method, "http://"+host+":8080"+path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:50000"
	if c.tls {
		r.TLS = &tls.ConnectionState{}
	}
	if c.cookie != nil {
		r.AddCookie(c.cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	c.s.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.Name == cookieName {
			c.cookie = ck
		}
	}
	return w
}

func (c *client) session() sessionView {
	c.t.Helper()
	w := c.do("GET", "/ui/session", "")
	var v sessionView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		c.t.Fatalf("session: %v in %s", err, w.Body)
	}
	c.csrf = v.CSRF
	return v
}

func TestOwnerSessionWithoutLogin(t *testing.T) {
	s, api := newServer(false, nil)
	c := &client{t: t, s: s}
	v := c.session()
	if !v.LoggedIn || v.Policy != "iothubowner" || v.CSRF == "" || v.HostName != host {
		t.Fatalf("session = %+v", v)
	}
	ck := c.cookie
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.Secure {
		t.Fatalf("cookie over plain HTTP = %+v", ck)
	}

	// A read needs the session only; the call reaches the API signed.
	if w := c.do("GET", "/ui/api/devices/a%23b", ""); w.Code != 200 {
		t.Fatalf("read: %d %s", w.Code, w.Body)
	}
	got := api.calls[len(api.calls)-1]
	if got.URL.EscapedPath() != "/devices/a%23b" || got.URL.Query().Get("api-version") == "" {
		t.Fatalf("proxied to %s", got.URL)
	}
	if got.Header.Get("Cookie") != "" {
		t.Fatal("the session cookie was passed on to the API")
	}

	// A write without the token never reaches the API.
	n := len(api.calls)
	if w := c.do("PUT", "/ui/api/devices/d1", `{"deviceId":"d1"}`); w.Code != http.StatusForbidden {
		t.Fatalf("write without CSRF token: %d", w.Code)
	}
	if w := c.do("PUT", "/ui/api/devices/d1", `{}`, csrfHeader, "not-the-token"); w.Code != http.StatusForbidden {
		t.Fatalf("write with a wrong CSRF token: %d", w.Code)
	}
	if len(api.calls) != n {
		t.Fatal("a refused write reached the API")
	}
	if w := c.do("PUT", "/ui/api/devices/d1", `{"deviceId":"d1"}`, csrfHeader, c.csrf); w.Code != 200 {
		t.Fatalf("write with the token: %d %s", w.Code, w.Body)
	}
	if got := api.calls[len(api.calls)-1]; got.Header.Get(csrfHeader) != "" || got.Method != "PUT" {
		t.Fatalf("proxied write %s with headers %v", got.Method, got.Header)
	}
}

func TestCookieIsSecureOverHTTPS(t *testing.T) {
	s, _ := newServer(false, nil)
	c := &client{t: t, s: s, tls: true}
	c.session()
	if c.cookie == nil || !c.cookie.Secure || !c.cookie.HttpOnly {
		t.Fatalf("cookie over HTTPS = %+v", c.cookie)
	}
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	s, api := newServer(false, nil)
	c := &client{t: t, s: s}
	c.session()
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
	} {
		if w := c.do("DELETE", "/ui/api/devices/d1", "", csrfHeader, c.csrf, h[0], h[1]); w.Code != http.StatusForbidden {
			t.Errorf("write with %s: %s answered %d", h[0], h[1], w.Code)
		}
		if w := c.do("GET", "/ui/session", "", h[0], h[1]); w.Code != http.StatusForbidden {
			t.Errorf("session read with %s: %s answered %d", h[0], h[1], w.Code)
		}
	}
	if len(api.calls) != 0 {
		t.Fatalf("cross-site requests reached the API: %d", len(api.calls))
	}
	// The page's own requests carry these headers too, and pass.
	if w := c.do("DELETE", "/ui/api/devices/d1", "", csrfHeader, c.csrf, "Sec-Fetch-Site", "same-origin", "Origin", "http://"+host+":8080"); w.Code != 200 {
		t.Fatalf("same-origin write: %d %s", w.Code, w.Body)
	}
}

func TestNoSessionNoAPI(t *testing.T) {
	for _, requireLogin := range []bool{false, true} {
		s, api := newServer(requireLogin, nil)
		c := &client{t: t, s: s}
		if w := c.do("GET", "/ui/api/devices", ""); w.Code != http.StatusUnauthorized {
			t.Errorf("requireLogin %v: read without a session: %d", requireLogin, w.Code)
		}
		c.cookie = &http.Cookie{Name: cookieName, Value: "made-up"}
		if w := c.do("GET", "/ui/api/devices", ""); w.Code != http.StatusUnauthorized {
			t.Errorf("requireLogin %v: read with a made-up session: %d", requireLogin, w.Code)
		}
		if len(api.calls) != 0 {
			t.Errorf("requireLogin %v: calls without a session reached the API", requireLogin)
		}
	}
}

func TestLoginNeedsOwnerRights(t *testing.T) {
	s, api := newServer(true, nil)
	c := &client{t: t, s: s}
	if v := c.session(); v.LoggedIn || v.CSRF != "" || !v.RequireLogin || c.cookie != nil {
		t.Fatalf("before login: %+v, cookie %v", v, c.cookie)
	}
	// Pages send the browser to log in first.
	if w := c.do("GET", "/ui/devices/d1?x=1", ""); w.Code != http.StatusFound || w.Header().Get("Location") != "/ui/login?next=%2Fui%2Fdevices%2Fd1%3Fx%3D1" {
		t.Fatalf("page before login: %d to %q", w.Code, w.Header().Get("Location"))
	}
	login := func(name string) *httptest.ResponseRecorder {
		p := policies[name]
		cs := sas.ConnectionString{HostName: host, SharedAccessKeyName: name, SharedAccessKey: p.key}.String()
		body, _ := json.Marshal(map[string]string{"connectionString": cs})
		return c.do("POST", "/ui/login", string(body), "Content-Type", "application/json")
	}
	for _, name := range []string{"registryRead", "service"} {
		if w := login(name); w.Code != http.StatusUnauthorized || c.cookie != nil {
			t.Fatalf("login as %s: %d %s, cookie %v", name, w.Code, w.Body, c.cookie)
		}
	}
	wrongKey := sas.ConnectionString{HostName: host, SharedAccessKeyName: "iothubowner", SharedAccessKey: policies["service"].key}.String()
	if w := c.do("POST", "/ui/login", `{"connectionString":"`+wrongKey+`"}`, "Content-Type", "application/json"); w.Code != http.StatusUnauthorized {
		t.Fatalf("login with a wrong key: %d", w.Code)
	}
	device := sas.ConnectionString{HostName: host, DeviceID: "d1", SharedAccessKey: policies["service"].key}.String()
	if w := c.do("POST", "/ui/login", `{"connectionString":"`+device+`"}`, "Content-Type", "application/json"); w.Code != http.StatusBadRequest {
		t.Fatalf("login with a device connection string: %d", w.Code)
	}
	// A form post (what a cross-site page could send) is refused.
	if w := c.do("POST", "/ui/login", "connectionString=x", "Content-Type", "application/x-www-form-urlencoded"); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("form login: %d", w.Code)
	}
	api.calls = nil

	if w := login("iothubowner"); w.Code != 200 || c.cookie == nil {
		t.Fatalf("owner login: %d %s", w.Code, w.Body)
	}
	v := c.session()
	if !v.LoggedIn || v.Policy != "iothubowner" || v.CSRF == "" {
		t.Fatalf("after login: %+v", v)
	}
	if w := c.do("POST", "/ui/api/emulator/reset", "", csrfHeader, c.csrf); w.Code != 200 {
		t.Fatalf("write after login: %d %s", w.Code, w.Body)
	}
	if w := c.do("GET", "/ui/devices/d1", ""); w.Code != 200 {
		t.Fatalf("page after login: %d", w.Code)
	}

	// Logging out ends the session.
	if w := c.do("POST", "/ui/logout", "", csrfHeader, c.csrf); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := c.do("GET", "/ui/api/devices", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("read after logout: %d", w.Code)
	}
}

func TestLoginOverPlainHTTPFromAnotherMachine(t *testing.T) {
	s, _ := newServer(true, nil)
	p := policies["iothubowner"]
	cs := sas.ConnectionString{HostName: host, SharedAccessKeyName: "iothubowner", SharedAccessKey: p.key}.String()
	body, _ := json.Marshal(map[string]string{"connectionString": cs})
	r := httptest.NewRequest("POST", "http://"+host+":8080/ui/login", strings.NewReader(string(body)))
	r.RemoteAddr = "192.0.2.7:40000"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login over plain HTTP from the network: %d", w.Code)
	}
	r.TLS = &tls.ConnectionState{}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("login over HTTPS from the network: %d %s", w.Code, w.Body)
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	s, _ := newServer(false, func() time.Time { return now })
	c := &client{t: t, s: s}
	c.session()
	now = now.Add(SessionTTL - time.Minute)
	if w := c.do("GET", "/ui/api/devices", ""); w.Code != 200 {
		t.Fatalf("a session in use: %d", w.Code)
	}
	now = now.Add(SessionTTL + time.Minute)
	if w := c.do("GET", "/ui/api/devices", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("an expired session: %d", w.Code)
	}
}

func TestOtherHostNamesRefused(t *testing.T) {
	s, _ := newServer(false, nil)
	for h, want := range map[string]int{
		"127.0.0.1:8080":        200,
		"[::1]:443":             200,
		"localhost:8080":        200,
		"hub.example.test":      200,
		"attacker.example:8080": http.StatusMisdirectedRequest, // a rebound name
	} {
		r := httptest.NewRequest("GET", "/ui/session", nil)
		r.Host = h
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %s: %d, want %d", h, w.Code, want)
		}
	}
}

func TestPagesAndHeaders(t *testing.T) {
	s, _ := newServer(false, nil)
	c := &client{t: t, s: s}
	for path, want := range map[string]int{
		"/ui/":                    200,
		"/ui/devices/a%23b":       200,
		"/ui/query":               200,
		"/ui/telemetry":           200,
		"/ui/workshop":            200,
		"/ui/hub":                 200,
		"/ui/login":               200,
		"/ui/assets/app.js":       200,
		"/ui/assets/app.css":      200,
		"/ui/nothing":             404,
		"/ui/devices/a/b":         404,
		"/ui/assets/missing.js":   404,
		"/ui/assets/../ui.go":     404,
		"/ui/devices/":            404,
		"/ui/assets/devices.js":   200,
		"/ui/assets/telemetry.js": 200,
	} {
		w := c.do("GET", path, "")
		if w.Code != want && !(want == 404 && w.Code == 301) {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	if w := c.do("GET", "/ui/assets/app.js", ""); !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js served as %q: modules need a JavaScript type", w.Header().Get("Content-Type"))
	}
	if w := c.do("GET", "/ui", ""); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Fatalf("/ui: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := c.do("POST", "/ui/query", ""); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST to a page: %d", w.Code)
	}
}

// The pages build the DOM from data with textContent only: no script
// source turns a string into markup or code.
func TestAssetsNeverParseDataAsMarkup(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser|setAttribute\(\s*['"]on`)
	n := 0
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		n++
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if sinks.MatchString(line) {
				t.Errorf("%s:%d: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d scripts embedded", n)
	}
}
