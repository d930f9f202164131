package c2d

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

type api struct {
	t      *testing.T
	q      *Queues
	clock  *fakeClock
	tr     *fakeTransport
	server *httptest.Server
}

func newAPI(t *testing.T, opts Options) *api {
	t.Helper()
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	q := openQueues(t, opts)
	tr := newFakeTransport()
	q.SetTransport(tr)
	registered := map[string]bool{"d1": true, "d2": true, "a#b?/c %": true}
	h := NewHandler(q, HandlerOptions{
		DeviceExists: func(id string) bool { return registered[id] },
		Logger:       testLogger(),
		Now:          clock.Now,
	})
	// httptest binds 127.0.0.1 on a free port.
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, q: q, clock: clock, tr: tr, server: srv}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (a *api) do(method, path, body string) response {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, a.server.URL+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	res, err := a.server.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// wantError checks IoT Hub's error form: status, header and the
// "ErrorCode:{Name};" prefix the SDKs parse.
func (r response) wantError(t *testing.T, code errcode.Code) {
	t.Helper()
	if r.status != code.HTTPStatus() || r.header.Get("iothub-errorcode") != code.Name() {
		t.Fatalf("status %d iothub-errorcode %q, want %d %s; body %s", r.status, r.header.Get("iothub-errorcode"), code.HTTPStatus(), code.Name(), r.body)
	}
	var body struct{ Message string }
	if err := json.Unmarshal(r.body, &body); err != nil || !strings.HasPrefix(body.Message, "ErrorCode:"+code.Name()+";") {
		t.Fatalf("error body %s", r.body)
	}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs:\n got %s\nwant %s", path, pretty.Bytes(), want)
	}
}

func TestHandlerSend(t *testing.T) {
	a := newAPI(t, Options{})
	r := a.do("POST", "/devices/d1/messages/devicebound?api-version=2021-04-12",
		`{"body":"hello","messageId":"m-1","correlationId":"c-1","userId":"u","contentType":"application/json",
		  "contentEncoding":"utf-8","expiryTimeUtc":"2026-03-01T12:30:00Z","ack":"Full","properties":{"color":"red","empty":""}}`)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	golden(t, "send-response.json", r.body)

	m := a.q.Messages("d1")
	if len(m) != 1 || string(m[0].Body) != "hello" || m[0].Ack != AckFull || m[0].Properties["empty"] != "" {
		t.Fatalf("queued %+v", m)
	}

	// A binary body travels as base64 both ways.
	r = a.do("POST", "/devices/d1/messages/devicebound", `{"bodyBase64":"AP8A"}`)
	var v MessageView
	r.decode(t, &v)
	if r.status != http.StatusOK || v.BodyBase64 == nil || *v.BodyBase64 != "AP8A" || v.Body != nil || len(v.MessageID) != 36 {
		t.Fatalf("binary send: %d %s", r.status, r.body)
	}
	if got := a.q.Messages("d1")[1].Body; !bytes.Equal(got, []byte{0, 0xff, 0}) {
		t.Fatalf("binary body queued as %v", got)
	}
}

func TestHandlerSendErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		code errcode.Code
	}{
		{"unknown device", "/devices/ghost/messages/devicebound", `{"body":"x"}`, errcode.DeviceNotFound},
		{"empty body", "/devices/d1/messages/devicebound", ``, errcode.ArgumentNull},
		{"not JSON", "/devices/d1/messages/devicebound", `hello`, errcode.ArgumentInvalid},
		{"JSON array", "/devices/d1/messages/devicebound", `["x"]`, errcode.ArgumentInvalid},
		{"truncated", "/devices/d1/messages/devicebound", `{"body":"x"`, errcode.ArgumentInvalid},
		{"two values", "/devices/d1/messages/devicebound", `{"body":"x"} {}`, errcode.ArgumentInvalid},
		{"unknown field", "/devices/d1/messages/devicebound", `{"bodi":"x"}`, errcode.ArgumentInvalid},
		{"both bodies", "/devices/d1/messages/devicebound", `{"body":"x","bodyBase64":"eA=="}`, errcode.ArgumentInvalid},
		{"bad base64", "/devices/d1/messages/devicebound", `{"bodyBase64":"!!"}`, errcode.ArgumentInvalid},
		{"number property", "/devices/d1/messages/devicebound", `{"properties":{"n":1}}`, errcode.ArgumentInvalid},
		{"array properties", "/devices/d1/messages/devicebound", `{"properties":["n"]}`, errcode.ArgumentInvalid},
		{"numeric body", "/devices/d1/messages/devicebound", `{"body":1}`, errcode.ArgumentInvalid},
		{"bad expiry", "/devices/d1/messages/devicebound", `{"expiryTimeUtc":"tomorrow"}`, errcode.ArgumentInvalid},
		{"past expiry", "/devices/d1/messages/devicebound", `{"expiryTimeUtc":"2020-01-01T00:00:00Z"}`, errcode.ArgumentInvalid},
		{"bad ack", "/devices/d1/messages/devicebound", `{"ack":"maybe"}`, errcode.ArgumentInvalid},
		{"too large", "/devices/d1/messages/devicebound", `{"body":"` + strings.Repeat("x", MaxMessageSize+1) + `"}`, errcode.MessageTooLarge},
		{"request too large", "/devices/d1/messages/devicebound", `{"body":"` + strings.Repeat("x", maxRequestBody) + `"}`, errcode.MessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, Options{})
			a.do("POST", tt.path, tt.body).wantError(t, tt.code)
			if a.q.Pending("d1") != 0 {
				t.Fatal("a refused send was queued")
			}
		})
	}
}

func TestHandlerQueueDepth(t *testing.T) {
	a := newAPI(t, Options{MaxPending: 2})
	for range 2 {
		if r := a.do("POST", "/devices/d2/messages/devicebound", `{"body":"x"}`); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	a.do("POST", "/devices/d2/messages/devicebound", `{"body":"x"}`).wantError(t, errcode.DeviceMaximumQueueDepthExceeded)
}

func TestHandlerEncodedDeviceID(t *testing.T) {
	a := newAPI(t, Options{})
	const path = "/devices/a%23b%3F%2Fc%20%25/messages/devicebound"
	if r := a.do("POST", path, `{"body":"x"}`); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if a.q.Pending("a#b?/c %") != 1 {
		t.Fatal("the id was not percent-decoded")
	}
	var list []MessageView
	a.do("GET", path, "").decode(t, &list)
	if len(list) != 1 || list[0].DeviceID != "a#b?/c %" {
		t.Fatalf("list %+v", list)
	}
}

func TestHandlerListAndPurge(t *testing.T) {
	a := newAPI(t, Options{})
	for _, b := range []string{"one", "two", "three"} {
		if r := a.do("POST", "/devices/d1/messages/devicebound", `{"body":"`+b+`","ack":"full"}`); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	a.tr.setOnline("d1", true)
	a.q.DeviceReady("d1")
	a.tr.all()[0].ack()
	a.tr.setOnline("d1", false)

	var list []MessageView
	r := a.do("GET", "/devices/d1/messages/devicebound", "")
	r.decode(t, &list)
	if len(list) != 2 || *list[0].Body != "two" || *list[1].Body != "three" || list[0].State != "Invisible" || list[0].DeliveryCount != 1 {
		t.Fatalf("list %s", r.body)
	}
	var empty []MessageView
	a.do("GET", "/devices/d2/messages/devicebound", "").decode(t, &empty)
	if empty == nil || len(empty) != 0 {
		t.Fatal("an empty queue must list as []")
	}
	a.do("GET", "/devices/ghost/messages/devicebound", "").wantError(t, errcode.DeviceNotFound)

	r = a.do("DELETE", "/devices/d1/commands?api-version=2021-04-12", "")
	if r.status != http.StatusOK {
		t.Fatalf("purge status %d: %s", r.status, r.body)
	}
	golden(t, "purge-response.json", r.body)
	if a.q.Pending("d1") != 0 {
		t.Fatal("not purged")
	}
	a.do("DELETE", "/devices/ghost/commands", "").wantError(t, errcode.DeviceNotFound)
}

func TestHandlerFeedback(t *testing.T) {
	a := newAPI(t, Options{})
	r := a.do("GET", "/messages/serviceBound/feedback?api-version=2021-04-12", "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("no feedback: status %d body %q", r.status, r.body)
	}
	if r := a.do("GET", "/messages/feedback", ""); r.status != http.StatusOK || string(r.body) != "[]" {
		t.Fatalf("empty feedback list: %d %s", r.status, r.body)
	}

	a.tr.setOnline("d1", true)
	a.tr.autoAck = true
	if r := a.do("POST", "/devices/d1/messages/devicebound", `{"body":"x","messageId":"m-1","ack":"positive"}`); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r = a.do("GET", "/messages/feedback", "")
	golden(t, "feedback-records.json", r.body)

	r = a.do("GET", "/messages/serviceBound/feedback", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != FeedbackContentType {
		t.Fatalf("receive: %d %s", r.status, r.header.Get("Content-Type"))
	}
	etag := r.header.Get("ETag")
	var records []FeedbackRecord
	r.decode(t, &records)
	if len(records) != 1 || records[0].OriginalMessageID != "m-1" || len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("batch %s etag %q", r.body, etag)
	}
	if r := a.do("GET", "/messages/serviceBound/feedback", ""); r.status != http.StatusNoContent {
		t.Fatalf("locked feedback handed out again: %d", r.status)
	}

	token := strings.Trim(etag, `"`)
	if r := a.do("POST", "/messages/serviceBound/feedback/"+token+"/abandon", ""); r.status != http.StatusNoContent {
		t.Fatalf("abandon: %d %s", r.status, r.body)
	}
	r = a.do("GET", "/messages/serviceBound/feedback", "")
	etag = r.header.Get("ETag")
	// The token is accepted quoted, as the ETag carried it.
	if r := a.do("DELETE", "/messages/serviceBound/feedback/"+etag, ""); r.status != http.StatusNoContent {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	a.do("DELETE", "/messages/serviceBound/feedback/"+etag, "").wantError(t, errcode.DeviceMessageLockLost)
	a.do("POST", "/messages/serviceBound/feedback/nope/abandon", "").wantError(t, errcode.DeviceMessageLockLost)
	if len(a.q.Feedback()) != 0 {
		t.Fatal("completed feedback kept")
	}
}

func TestHandlerUnknownRoutes(t *testing.T) {
	a := newAPI(t, Options{})
	for _, tt := range []struct{ method, path string }{
		{"GET", "/nothing"},
		{"PUT", "/devices/d1/messages/devicebound"},
		{"POST", "/devices/d1/commands"},
		{"GET", "/messages/serviceBound/feedback/x"},
	} {
		a.do(tt.method, tt.path, "").wantError(t, errcode.IotHubNotFound)
	}
}
