package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// rawRequest sends a request line exactly as written, so no client library
// normalises the path before the server sees it.
func rawRequest(t *testing.T, f *fixture, method, target, token string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(f.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + token + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A token scoped to one device reaches that device's routes and nothing
// another decoding of the path could name.
func TestScopedTokenSeesThePathAsRouted(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"a", "b"} {
		if r := f.do("PUT", "/devices/"+id, `{}`); r.status != 200 {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	p, _ := f.hub.Policies().Find("iothubowner")
	scoped, err := sas.NewToken("localhost/devices/b", p.PrimaryKey, p.Name, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		want           int
	}{
		{"GET", "/devices/b", 200},
		{"GET", "/devices/b/modules", 200},
		{"GET", "/devices/a", 401},
		{"GET", "/twins/b%2F..%2Fa", 400},
		{"GET", "/twins/b%2f..%2fa", 400},
		{"GET", "/devices/b%2F..%2Fa", 400},
		{"GET", "/devices/b%252F..%252Fa", 401}, // one decoding: the id "b%2F..%2Fa", not under devices/b
		{"GET", "/twins/b/../a", 400},
		{"GET", "/twins/b/%2e%2e/a", 400},
		{"GET", "/devices/b/modules/..%2F..%2Fa", 400},
		{"DELETE", "/devices/b%2F..%2Fa", 400},
		{"PATCH", "/twins/b%2F..%2Fa", 400},
	}
	for _, tt := range tests {
		if got := rawRequest(t, f, tt.method, tt.target, scoped); got != tt.want {
			t.Errorf("%s %s with a token for devices/b: status %d, want %d", tt.method, tt.target, got, tt.want)
		}
	}
	// Nothing was deleted or changed along the way.
	for _, id := range []string{"a", "b"} {
		r := f.do("GET", "/twins/"+id, "")
		var tw map[string]any
		json.Unmarshal([]byte(r.body), &tw)
		if r.status != 200 || tw["version"] != float64(1) {
			t.Errorf("twin %s after the attempts: %d %s", id, r.status, r.body)
		}
	}
}

func TestEmptyOrMalformedIfMatchOverREST(t *testing.T) {
	f := newFixture(t)
	if r := f.do("PUT", "/devices/d1", `{}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, im := range []string{`""`, `W/""`, `""""`, ` `} {
		wantError(t, f.do("DELETE", "/devices/d1", "", "If-Match", im), 412, "PreconditionFailed")
		wantError(t, f.do("PUT", "/devices/d1", `{"deviceId":"d1","status":"disabled"}`, "If-Match", im), 412, "PreconditionFailed")
		wantError(t, f.do("PATCH", "/twins/d1", `{"tags":{"a":1}}`, "If-Match", im), 412, "PreconditionFailed")
		wantError(t, f.do("PUT", "/twins/d1", `{"tags":{"a":1}}`, "If-Match", im), 412, "PreconditionFailed")
	}
	r := f.do("GET", "/devices/d1", "")
	var d map[string]any
	json.Unmarshal([]byte(r.body), &d)
	if r.status != 200 || d["status"] != "enabled" {
		t.Fatalf("device after refused writes: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/twins/d1", "")
	var tw map[string]any
	json.Unmarshal([]byte(r.body), &tw)
	if tw["version"] != float64(1) {
		t.Fatalf("twin after refused writes: %s", r.body)
	}
}

// The Java service SDK sends PATCH as POST with X-HTTP-Method-Override.
func TestMethodOverride(t *testing.T) {
	f := newFixture(t)
	if r := f.do("PUT", "/devices/d1", `{}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := f.do("POST", "/twins/d1", `{"properties":{"desired":{"rate":5}}}`, "X-HTTP-Method-Override", "PATCH", "If-Match", `"*"`)
	if r.status != 200 || !strings.Contains(r.body, `"rate":5`) {
		t.Fatalf("POST overridden to PATCH: %d %s", r.status, r.body)
	}
	// A merge, not a replace: a second patch keeps the first.
	r = f.do("POST", "/twins/d1", `{"properties":{"desired":{"mode":"eco"}}}`, "x-http-method-override", "patch")
	if r.status != 200 || !strings.Contains(r.body, `"rate":5`) || !strings.Contains(r.body, `"mode":"eco"`) {
		t.Fatalf("second overridden patch: %d %s", r.status, r.body)
	}
	wantError(t, f.do("POST", "/twins/d1", `{}`, "X-HTTP-Method-Override", "GET"), 400, "ArgumentInvalid")
	// Only a POST is overridden.
	wantError(t, f.do("PUT", "/twins/d1/methods", `{}`, "X-HTTP-Method-Override", "POST"), 404, "IotHubNotFound")
	// Without the header a POST to a twin is still no operation.
	wantError(t, f.do("POST", "/twins/d1", `{"tags":{"a":1}}`), 404, "IotHubNotFound")
}

func TestInvalidUTF8BodiesRefused(t *testing.T) {
	f := newFixture(t)
	if r := f.do("PUT", "/devices/d1", `{}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"PATCH", "/twins/d1", "{\"tags\":{\"a\":\"\xff\"}}"},
		{"PUT", "/twins/d1", `{"tags":{"a":"\ud800"}}`},
		{"PUT", "/devices/d2", "{\"deviceId\":\"d2\",\"statusReason\":\"\xc0\xaf\"}"},
		{"POST", "/devices/query", "{\"query\":\"SELECT * FROM devices WHERE tags.a = '\xff'\"}"},
	} {
		wantError(t, f.do(tc.method, tc.path, tc.body), 400, "ArgumentInvalid")
	}
	if r := f.do("GET", "/devices/d2", ""); r.status != 404 {
		t.Fatalf("a refused create left a device: %d %s", r.status, r.body)
	}
	r := f.do("GET", "/twins/d1", "")
	if strings.Contains(r.body, `"a"`) {
		t.Fatalf("a refused patch was applied: %s", r.body)
	}
}

func newTimeoutFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := newFixture(t)
	f.srv.Close()
	f.srv = httptest.NewServer(New(f.hub, Options{BodyReadTimeout: timeout}))
	t.Cleanup(f.srv.Close)
	return f
}

// A client that declares a body and trickles it is cut off at the body
// timeout instead of holding the connection.
func TestTrickledBodyIsCutOff(t *testing.T) {
	f := newTimeoutFixture(t, 300*time.Millisecond)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(f.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "PUT /devices/slow HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + f.token + "\r\nContent-Length: 100\r\n\r\n{"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	// 100 bytes at one per 100 ms would take 10 s; the server must give up
	// long before the body is complete.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		io.Copy(io.Discard, conn)
	}()
	sent := 1
	for ; sent < 99; sent++ {
		select {
		case <-closed:
		case <-time.After(100 * time.Millisecond):
			if _, err := conn.Write([]byte(" ")); err != nil {
				sent = 100 // the server has closed its side
			}
			continue
		}
		break
	}
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("connection still open 20 s after the body timeout")
	}
	if sent >= 99 {
		t.Fatalf("the server read a trickled body to its end (%d bytes)", sent)
	}
	if r := f.do("GET", "/devices/slow", ""); r.status != 404 {
		t.Fatalf("the cut-off body created a device: %d %s", r.status, r.body)
	}
}

// The deadline covers only the body: a keep-alive connection idle for longer
// afterwards, and a response produced after it, are unaffected.
func TestBodyDeadlineIsLiftedAfterTheBody(t *testing.T) {
	f := newTimeoutFixture(t, 200*time.Millisecond)
	client := f.srv.Client()
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", f.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("PUT", "/devices/d1", `{}`); got != 200 {
		t.Fatalf("create: %d", got)
	}
	// Idle on the real clock: the body deadline is a net.Conn deadline, so
	// only real time can show it no longer applies. Bounded, and only once.
	time.Sleep(500 * time.Millisecond)
	if got := do("PATCH", "/twins/d1", `{"tags":{"a":1}}`); got != 200 {
		t.Fatalf("patch after an idle spell longer than the body timeout: %d", got)
	}
}
