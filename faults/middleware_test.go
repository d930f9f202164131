package faults

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// restError is IoT Hub's REST error body.
type restError struct {
	Message          string `json:"Message"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

func checkRESTError(t *testing.T, rec *httptest.ResponseRecorder, status int, name string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if got := rec.Header().Get("iothub-errorcode"); got != name {
		t.Errorf("iothub-errorcode = %q, want %q", got, name)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var body restError
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if !strings.HasPrefix(body.Message, "ErrorCode:"+name+";") || !strings.HasPrefix(body.ExceptionMessage, "Tracking ID:") {
		t.Errorf("body = %+v", body)
	}
}

func TestMiddleware(t *testing.T) {
	c := newClock()
	f := New(c.now)
	served := 0
	h := f.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served++
		w.WriteHeader(http.StatusOK)
	}))
	do := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}

	if rec := do("GET", "/twins/dev1"); rec.Code != 200 {
		t.Fatalf("no fault: %d", rec.Code)
	}
	if _, err := f.Throttle(TwinReads, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkRESTError(t, do("GET", "/twins/dev1"), 429, "ThrottlingException")
	checkRESTError(t, do("GET", "/twins/dev1/modules/m1"), 429, "ThrottlingException")
	for _, ok := range []struct{ method, target string }{
		{"PATCH", "/twins/dev1"}, // another class
		{"GET", "/healthz"},      // never classified
		{"GET", "/devices/dev1"},
	} {
		if rec := do(ok.method, ok.target); rec.Code != 200 {
			t.Errorf("%s %s: %d, want 200", ok.method, ok.target, rec.Code)
		}
	}
	c.advance(10 * time.Second)
	if rec := do("GET", "/twins/dev1"); rec.Code != 200 {
		t.Fatalf("after the fault: %d", rec.Code)
	}
	if served != 5 {
		t.Errorf("next handler ran %d times, want 5 (never for a throttled request)", served)
	}
}

func TestMiddlewareWithTierAndCustomClassifier(t *testing.T) {
	c := newClock()
	f := New(c.now)
	l, err := NewLimiter("S1")
	if err != nil {
		t.Fatal(err)
	}
	f.SetLimiter(l)
	classify := func(r *http.Request) (Operation, bool) { return Queries, r.URL.Path == "/q" }
	h := f.Middleware(classify)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	codes := []int{}
	for _, target := range []string{"/q", "/q", "/other", "/q"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", target, nil))
		codes = append(codes, rec.Code)
	}
	if want := []int{200, 429, 200, 429}; !slices.Equal(codes, want) {
		t.Fatalf("codes = %v, want %v (S1 allows one query per 3 s)", codes, want)
	}
	c.advance(3100 * time.Millisecond)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/q", nil))
	if rec.Code != 200 {
		t.Fatalf("after the refill: %d", rec.Code)
	}
}
