// Package ui serves the emulator's web dashboard under /ui/: static pages
// embedded in the binary, and /ui/api/..., a proxy to the emulator's own
// REST API that signs each call for the browser's session, so the browser
// never holds a key.
//
// Security model: every /ui/api request needs a session (a random id in an
// HttpOnly, SameSite=Strict cookie; Secure over HTTPS). A session acts as
// the well-known owner when login is not required (loopback, default
// keys), or with the policy of the connection string it logged in with,
// which must grant RegistryRead, RegistryWrite and ServiceConnect. Every
// state-changing request carries the session's CSRF token in X-CSRF-Token,
// and requests a browser marks cross-site are refused.
package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

const (
	cookieName = "iothub_ui_session"
	csrfHeader = "X-CSRF-Token"
	// SessionTTL is how long a session lives without being used.
	SessionTTL = 8 * time.Hour
	// tokenTTL is the lifetime of the SAS token minted for one proxied call.
	tokenTTL = 10 * time.Minute
	// apiVersion is added to proxied calls that name none, for --strict.
	apiVersion = "2021-04-12"
	// maxSessions bounds the sessions kept, so anonymous page loads cannot
	// grow the table without end.
	maxSessions = 10000
)

// Options configure the dashboard.
type Options struct {
	// API is the emulator's REST API handler, called in-process.
	API http.Handler
	// Owner returns the owner policy's name and key, used by sessions when
	// RequireLogin is false.
	Owner func() (policyName, key string)
	// RequireLogin asks every browser for a connection string of a policy
	// with owner rights (the emulator sets it when bound beyond loopback
	// or when the policy keys were replaced).
	RequireLogin bool
	// HostNames are the hub's host names; the first signs tokens and goes
	// in the device connection strings the dashboard shows. Requests
	// naming another host (other than an IP address or localhost) are
	// refused, against DNS rebinding.
	HostNames []string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Server is the dashboard handler.
type Server struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	files http.Handler
	page  []byte // the page shell every deep link serves

	mu       sync.Mutex
	sessions map[string]*session
}

// session is one browser's: who it acts as and its CSRF token.
type session struct {
	id, csrf    string
	owner       bool   // acts as Options.Owner
	policy, key string // else the logged-in policy
	expires     time.Time
}

// New returns the dashboard handler for paths under Prefix.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, sessions: make(map[string]*session)}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(fmt.Sprintf("ui: embedded assets: %v", err)) // a build without assets is broken
	}
	if s.page, err = fs.ReadFile(static, "index.html"); err != nil {
		panic(fmt.Sprintf("ui: embedded index.html: %v", err))
	}
	s.files = http.StripPrefix("/ui/assets/", http.FileServerFS(static))
	return s
}

// hostName is the name tokens are signed for.
func (s *Server) hostName() string {
	if len(s.opts.HostNames) > 0 {
		return s.opts.HostNames[0]
	}
	return "127.0.0.1"
}

// ServeHTTP serves the pages, their assets, the session and login
// endpoints, and the API proxy, all under Prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing but the dashboard's own files may run or be framed, so
	// a value that slipped past escaping still could not execute.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if !s.hostAllowed(r.Host) {
		s.fail(w, http.StatusMisdirectedRequest, "This dashboard does not answer for host "+r.Host+".")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/ui":
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	case strings.HasPrefix(p, "/ui/api/"):
		s.proxy(w, r)
	case p == "/ui/session":
		s.sessionInfo(w, r)
	case p == "/ui/login":
		if r.Method == http.MethodPost {
			s.login(w, r)
		} else {
			s.servePage(w, r)
		}
	case p == "/ui/logout":
		s.logout(w, r)
	case strings.HasPrefix(p, "/ui/assets/"):
		h.Set("Cache-Control", "no-cache")
		s.files.ServeHTTP(w, r)
	case isPage(p):
		s.servePage(w, r)
	default:
		s.fail(w, http.StatusNotFound, "No dashboard page at "+p+".")
	}
}

// isPage reports whether p is one of the dashboard's deep links.
func isPage(p string) bool {
	switch p {
	case "/ui/", "/ui/query", "/ui/telemetry", "/ui/workshop", "/ui/hub":
		return true
	}
	id, ok := strings.CutPrefix(p, "/ui/devices/")
	return ok && id != "" && !strings.Contains(id, "/")
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fail(w, http.StatusMethodNotAllowed, "Pages answer GET only.")
		return
	}
	// Without a session, a page that needs login sends the browser to the
	// login page first, coming back after.
	if s.opts.RequireLogin && r.URL.Path != "/ui/login" && s.sessionOf(r) == nil {
		http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(s.page)
}

// hostAllowed refuses a Host header that is a name other than the hub's:
// a page on another domain rebound to this address would otherwise be
// same-origin with the dashboard.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, n := range s.opts.HostNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}

// crossSite reports a request a browser says came from another site.
// Sec-Fetch-Site is sent by current browsers; Origin, when present on a
// request, must name this host.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return true
		}
	}
	return false
}

// sessionOf returns the request's live session, if any.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[c.Value]
	if !ok {
		return nil
	}
	now := s.now()
	if now.After(ss.expires) {
		delete(s.sessions, ss.id)
		return nil
	}
	ss.expires = now.Add(SessionTTL)
	return ss
}

// newSession stores a session and sets its cookie.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, ss *session) error {
	id, err := randomToken()
	if err != nil {
		return err
	}
	csrf, err := randomToken()
	if err != nil {
		return err
	}
	ss.id, ss.csrf = id, csrf
	now := s.now()
	ss.expires = now.Add(SessionTTL)
	s.mu.Lock()
	if len(s.sessions) >= maxSessions {
		s.pruneLocked(now)
	}
	if len(s.sessions) >= maxSessions {
		// Drop anonymous owner sessions first: they are free to recreate.
		for k, o := range s.sessions {
			if o.owner {
				delete(s.sessions, k)
			}
		}
	}
	s.sessions[id] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     Prefix,
		HttpOnly: true,
		// Over plain HTTP a Secure cookie would never come back; the
		// plain port is for loopback debugging (login over it is refused
		// from other machines).
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

func (s *Server) pruneLocked(now time.Time) {
	for k, ss := range s.sessions {
		if now.After(ss.expires) {
			delete(s.sessions, k)
		}
	}
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionView is what GET /ui/session tells the page.
type sessionView struct {
	LoggedIn     bool   `json:"loggedIn"`
	RequireLogin bool   `json:"requireLogin"`
	CSRF         string `json:"csrfToken,omitempty"`
	Policy       string `json:"policy,omitempty"`
	HostName     string `json:"hostName"`
}

// sessionInfo answers the page's first call: whether it may act, and the
// CSRF token it must send. Without login, it opens an owner session.
// A cross-site page cannot read the answer (no CORS), so the token stays
// with the dashboard's own pages.
func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.fail(w, http.StatusMethodNotAllowed, "GET only.")
		return
	}
	if crossSite(r) {
		s.fail(w, http.StatusForbidden, "Cross-site requests are refused.")
		return
	}
	ss := s.sessionOf(r)
	if ss == nil && !s.opts.RequireLogin {
		ss = &session{owner: true}
		if err := s.newSession(w, r, ss); err != nil {
			s.fail(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	v := sessionView{RequireLogin: s.opts.RequireLogin, HostName: s.hostName()}
	if ss != nil {
		v.LoggedIn, v.CSRF, v.Policy = true, ss.csrf, ss.policy
		if ss.owner {
			v.Policy, _ = s.owner()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) owner() (string, string) {
	if s.opts.Owner == nil {
		return "", ""
	}
	return s.opts.Owner()
}

// login checks a connection string by making real calls with it that need
// every owner right, and opens a session acting with it.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		s.fail(w, http.StatusForbidden, "Cross-site requests are refused.")
		return
	}
	// A JSON body cannot be sent cross-origin without a CORS preflight,
	// which this server never grants: no login CSRF through a form.
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.fail(w, http.StatusUnsupportedMediaType, "Send {\"connectionString\": \"...\"} as application/json.")
		return
	}
	if r.TLS == nil && !loopbackRemote(r) {
		s.fail(w, http.StatusForbidden, "Log in over the HTTPS port: a connection string must not cross the network in clear.")
		return
	}
	var body struct {
		ConnectionString string `json:"connectionString"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		s.fail(w, http.StatusBadRequest, "The body must be {\"connectionString\": \"...\"}.")
		return
	}
	cs, err := sas.ParseConnectionString(body.ConnectionString)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "That is not a connection string: "+err.Error())
		return
	}
	if cs.SharedAccessKeyName == "" || cs.SharedAccessKey == "" || cs.DeviceID != "" {
		s.fail(w, http.StatusBadRequest, "Give a service connection string with SharedAccessKeyName and SharedAccessKey (the iothubowner policy's).")
		return
	}
	if err := s.checkOwner(r, cs.SharedAccessKeyName, cs.SharedAccessKey); err != nil {
		s.log.Info("dashboard login refused", "policy", cs.SharedAccessKeyName, "err", err)
		s.fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	if old := s.sessionOf(r); old != nil {
		s.drop(old.id)
	}
	ss := &session{policy: cs.SharedAccessKeyName, key: cs.SharedAccessKey}
	if err := s.newSession(w, r, ss); err != nil {
		s.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("dashboard login", "policy", ss.policy, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, sessionView{LoggedIn: true, RequireLogin: s.opts.RequireLogin, CSRF: ss.csrf, Policy: ss.policy, HostName: s.hostName()})
}

// ownerChecks are calls that change nothing and are authorized only with
// each owner right; the write is a delete of an id too long to exist.
var ownerChecks = []struct{ method, path, right string }{
	{http.MethodGet, "/statistics/devices", "RegistryRead"},
	{http.MethodGet, "/statistics/service", "ServiceConnect"},
	{http.MethodDelete, "/devices/" + strings.Repeat("x", 129), "RegistryWrite"},
}

func (s *Server) checkOwner(r *http.Request, policy, key string) error {
	for _, c := range ownerChecks {
		req, err := http.NewRequestWithContext(r.Context(), c.method, "http://"+s.hostName()+c.path+"?api-version="+apiVersion, nil)
		if err != nil {
			return fmt.Errorf("login check: %w", err)
		}
		req.RemoteAddr, req.Host = r.RemoteAddr, r.Host
		tok, err := sas.NewToken(s.hostName(), key, policy, s.now().Add(tokenTTL))
		if err != nil {
			return fmt.Errorf("the key of policy %s is not base64: %w", policy, err)
		}
		req.Header.Set("Authorization", tok)
		rec := &statusRecorder{header: make(http.Header)}
		s.opts.API.ServeHTTP(rec, req)
		if rec.code == http.StatusUnauthorized || rec.code == http.StatusForbidden {
			return fmt.Errorf("policy %s cannot be used here: the dashboard needs %s (and RegistryRead, RegistryWrite, ServiceConnect, as iothubowner has): %s", policy, c.right, strings.TrimSpace(rec.body.String()))
		}
	}
	return nil
}

func loopbackRemote(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "POST only.")
		return
	}
	ss := s.sessionOf(r)
	if ss == nil || !s.csrfOK(r, ss) {
		s.fail(w, http.StatusForbidden, "A valid session and CSRF token are required.")
		return
	}
	s.drop(ss.id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) drop(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

func (s *Server) csrfOK(r *http.Request, ss *session) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1 && !crossSite(r)
}

// proxy forwards /ui/api/{path} to the REST API as {path}, signed with the
// session's policy. The response writer is passed through so server-sent
// event streams flush.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if crossSite(r) {
		s.fail(w, http.StatusForbidden, "Cross-site requests are refused.")
		return
	}
	ss := s.sessionOf(r)
	if ss == nil {
		s.fail(w, http.StatusUnauthorized, "Log in to the dashboard first.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.csrfOK(r, ss) {
		s.fail(w, http.StatusForbidden, "The request has no valid CSRF token; reload the page.")
		return
	}
	policy, key := ss.policy, ss.key
	if ss.owner {
		policy, key = s.owner()
	}
	tok, err := sas.NewToken(s.hostName(), key, policy, s.now().Add(tokenTTL))
	if err != nil {
		s.fail(w, http.StatusInternalServerError, fmt.Sprintf("signing for policy %s: %v", policy, err))
		return
	}
	in := r.Clone(r.Context())
	in.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui/api")
	if r.URL.RawPath != "" {
		in.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/ui/api")
	}
	in.RequestURI = ""
	q := in.URL.Query()
	if !q.Has("api-version") {
		q.Set("api-version", apiVersion)
		in.URL.RawQuery = q.Encode()
	}
	in.Header.Del("Cookie")
	in.Header.Del(csrfHeader)
	in.Header.Set("Authorization", tok)
	s.opts.API.ServeHTTP(w, in)
}

// apiError is the shape of the REST API's errors, so the pages read both
// alike.
type apiError struct {
	Message string `json:"Message"`
}

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, status = []byte(`{"Message":"encoding failed"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// statusRecorder keeps only the status and a little of the body of a
// response, for the login checks.
type statusRecorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if r.body.Len() < 1024 {
		r.body.Write(b)
	}
	return len(b), nil
}
