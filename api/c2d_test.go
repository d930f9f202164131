package api

import (
	"bytes"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// c2dAPI is the API serving cloud-to-device queues, with the devices d1,
// d2 and a#b?c% registered.
type c2dAPI struct {
	*fixture
	q  *c2d.Queues
	tr *hubtest.Devices
}

func newC2DAPI(t *testing.T, opts c2d.Options) *c2dAPI {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	tr := hubtest.NewDevices()
	h := hubtest.Open(t, hub.Options{Devices: tr, C2D: opts})
	q := h.C2D()
	for _, id := range []string{"d1", "d2", "a#b?c%"} {
		if _, err := h.PutDevice(testContext(t), id, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	// httptest binds 127.0.0.1 on a free port.
	srv := httptest.NewServer(New(h, Options{C2D: q, Now: clock.Now}))
	t.Cleanup(srv.Close)
	return &c2dAPI{fixture: &fixture{t: t, srv: srv, hub: h, token: ownerToken(t, h)}, q: q, tr: tr}
}

func (a *c2dAPI) send(path, body string) response {
	a.t.Helper()
	return a.do("POST", path, body, "Content-Type", "application/json; charset=utf-8")
}

func wantCode(t *testing.T, r response, code errcode.Code) {
	t.Helper()
	wantError(t, r, code.HTTPStatus(), code.Name())
}

func decode(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

func TestC2DSend(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	r := a.send("/emulator/devices/d1/messages/devicebound?api-version=2021-04-12",
		`{"body":"hello","messageId":"m-1","correlationId":"c-1","userId":"u","contentType":"application/json",
		  "contentEncoding":"utf-8","expiryTimeUtc":"2026-03-01T12:30:00Z","ack":"Full","properties":{"color":"red","empty":""}}`)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	goldenJSON(t, "c2d-send-response.json", []byte(r.body))

	m := a.q.Messages("d1")
	if len(m) != 1 || string(m[0].Body) != "hello" || m[0].Ack != c2d.AckFull || m[0].Properties["empty"] != "" {
		t.Fatalf("queued %+v", m)
	}

	// A binary body travels as base64 both ways.
	r = a.send("/emulator/devices/d1/messages/devicebound", `{"bodyBase64":"AP8A"}`)
	var v c2d.MessageView
	decode(t, r, &v)
	if r.status != http.StatusOK || v.BodyBase64 == nil || *v.BodyBase64 != "AP8A" || v.Body != nil || len(v.MessageID) != 36 {
		t.Fatalf("binary send: %d %s", r.status, r.body)
	}
	if got := a.q.Messages("d1")[1].Body; !bytes.Equal(got, []byte{0, 0xff, 0}) {
		t.Fatalf("binary body queued as %v", got)
	}
}

func TestC2DSendErrors(t *testing.T) {
	const path = "/emulator/devices/d1/messages/devicebound"
	tests := []struct {
		name string
		path string
		body string
		code errcode.Code
	}{
		{"unknown device", "/emulator/devices/ghost/messages/devicebound", `{"body":"x"}`, errcode.DeviceNotFound},
		{"empty body", path, ``, errcode.ArgumentNull},
		{"not JSON", path, `hello`, errcode.ArgumentInvalid},
		{"JSON array", path, `["x"]`, errcode.ArgumentInvalid},
		{"truncated", path, `{"body":"x"`, errcode.ArgumentInvalid},
		{"two values", path, `{"body":"x"} {}`, errcode.ArgumentInvalid},
		{"unknown field", path, `{"bodi":"x"}`, errcode.ArgumentInvalid},
		{"both bodies", path, `{"body":"x","bodyBase64":"eA=="}`, errcode.ArgumentInvalid},
		{"bad base64", path, `{"bodyBase64":"!!"}`, errcode.ArgumentInvalid},
		{"number property", path, `{"properties":{"n":1}}`, errcode.ArgumentInvalid},
		{"array properties", path, `{"properties":["n"]}`, errcode.ArgumentInvalid},
		{"numeric body", path, `{"body":1}`, errcode.ArgumentInvalid},
		{"bad expiry", path, `{"expiryTimeUtc":"tomorrow"}`, errcode.ArgumentInvalid},
		{"past expiry", path, `{"expiryTimeUtc":"2020-01-01T00:00:00Z"}`, errcode.ArgumentInvalid},
		{"bad ack", path, `{"ack":"maybe"}`, errcode.ArgumentInvalid},
		{"too large", path, `{"body":"` + strings.Repeat("x", c2d.MaxMessageSize+1) + `"}`, errcode.MessageTooLarge},
		{"request too large", path, `{"body":"` + strings.Repeat("x", maxC2DRequestBody) + `"}`, errcode.MessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newC2DAPI(t, c2d.Options{})
			wantCode(t, a.send(tt.path, tt.body), tt.code)
			if a.q.Pending("d1") != 0 {
				t.Fatal("a refused send was queued")
			}
		})
	}
}

func TestC2DQueueDepth(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{MaxPending: 2})
	for range 2 {
		if r := a.send("/emulator/devices/d2/messages/devicebound", `{"body":"x"}`); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	wantCode(t, a.send("/emulator/devices/d2/messages/devicebound", `{"body":"x"}`), errcode.DeviceMaximumQueueDepthExceeded)
}

// An id that needs percent-encoding in a path is decoded. (An encoded '/'
// never reaches the handler: the API refuses it before routing.)
func TestC2DEncodedDeviceID(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	const path = "/emulator/devices/a%23b%3Fc%25/messages/devicebound"
	if r := a.send(path, `{"body":"x"}`); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if a.q.Pending("a#b?c%") != 1 {
		t.Fatal("the id was not percent-decoded")
	}
	var list []c2d.MessageView
	decode(t, a.do("GET", path, ""), &list)
	if len(list) != 1 || list[0].DeviceID != "a#b?c%" {
		t.Fatalf("list %+v", list)
	}
}

func TestC2DListAndPurge(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	for _, b := range []string{"one", "two", "three"} {
		if r := a.send("/emulator/devices/d1/messages/devicebound", `{"body":"`+b+`","ack":"full"}`); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	a.tr.SetOnline("d1", true)
	a.q.DeviceReady("d1")
	a.tr.Deliveries()[0].Ack()
	a.tr.SetOnline("d1", false)

	var list []c2d.MessageView
	r := a.do("GET", "/emulator/devices/d1/messages/devicebound", "")
	decode(t, r, &list)
	if len(list) != 2 || *list[0].Body != "two" || *list[1].Body != "three" || list[0].State != "Invisible" || list[0].DeliveryCount != 1 {
		t.Fatalf("list %s", r.body)
	}
	var empty []c2d.MessageView
	decode(t, a.do("GET", "/emulator/devices/d2/messages/devicebound", ""), &empty)
	if empty == nil || len(empty) != 0 {
		t.Fatal("an empty queue must list as []")
	}
	wantCode(t, a.do("GET", "/emulator/devices/ghost/messages/devicebound", ""), errcode.DeviceNotFound)

	r = a.do("DELETE", "/devices/d1/commands?api-version=2021-04-12", "")
	if r.status != http.StatusOK {
		t.Fatalf("purge status %d: %s", r.status, r.body)
	}
	goldenJSON(t, "c2d-purge-response.json", []byte(r.body))
	if a.q.Pending("d1") != 0 {
		t.Fatal("not purged")
	}
	wantCode(t, a.do("DELETE", "/devices/ghost/commands", ""), errcode.DeviceNotFound)
}

func TestC2DFeedback(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	r := a.do("GET", "/messages/serviceBound/feedback?api-version=2021-04-12", "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("no feedback: status %d body %q", r.status, r.body)
	}
	if r := a.do("GET", "/emulator/messages/feedback", ""); r.status != http.StatusOK || r.body != "[]" {
		t.Fatalf("empty feedback list: %d %s", r.status, r.body)
	}

	a.tr.SetOnline("d1", true)
	a.tr.SetAutoAck(true)
	if r := a.send("/emulator/devices/d1/messages/devicebound", `{"body":"x","messageId":"m-1","ack":"positive"}`); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r = a.do("GET", "/emulator/messages/feedback", "")
	d1, err := a.hub.GetDevice(testContext(t), "d1")
	if err != nil || d1.GenerationID == "" {
		t.Fatalf("d1: %+v, %v", d1, err)
	}
	// The record names the device's generation; it differs run to run.
	goldenJSON(t, "c2d-feedback-records.json", []byte(strings.ReplaceAll(r.body, d1.GenerationID, "generation-of-d1")))

	r = a.do("GET", "/messages/serviceBound/feedback", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != c2d.FeedbackContentType {
		t.Fatalf("receive: %d %s", r.status, r.header.Get("Content-Type"))
	}
	etag := r.header.Get("ETag")
	var records []c2d.FeedbackRecord
	decode(t, r, &records)
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
	wantCode(t, a.do("DELETE", "/messages/serviceBound/feedback/"+etag, ""), errcode.DeviceMessageLockLost)
	wantCode(t, a.do("POST", "/messages/serviceBound/feedback/nope/abandon", ""), errcode.DeviceMessageLockLost)
	if len(a.q.Feedback()) != 0 {
		t.Fatal("completed feedback kept")
	}
}

func TestC2DUnknownRoutes(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	for _, tt := range []struct{ method, path string }{
		{"GET", "/nothing"},
		{"PUT", "/emulator/devices/d1/messages/devicebound"},
		{"POST", "/devices/d1/commands"},
		{"GET", "/messages/serviceBound/feedback/x"},
	} {
		wantCode(t, a.do(tt.method, tt.path, ""), errcode.IotHubNotFound)
	}
}

// The endpoints need ServiceConnect, unknown paths under them too; HEAD is
// answered as GET.
func TestC2DNeedsServiceConnect(t *testing.T) {
	a := newC2DAPI(t, c2d.Options{})
	for _, tt := range []struct{ method, path string }{
		{"POST", "/emulator/devices/d1/messages/devicebound"},
		{"GET", "/emulator/devices/d1/messages/devicebound"},
		{"PUT", "/emulator/devices/d1/messages/devicebound"},
		{"GET", "/emulator/messages/feedback"},
		{"DELETE", "/devices/d1/commands"},
		{"GET", "/messages/serviceBound/feedback"},
		{"DELETE", "/messages/serviceBound/feedback/x"},
		{"GET", "/messages/serviceBound/feedback/x"},
	} {
		rec := httptest.NewRecorder()
		a.srv.Config.Handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d %s", tt.method, tt.path, rec.Code, rec.Body)
		}
	}
	if r := a.do("HEAD", "/emulator/messages/feedback", ""); r.status != http.StatusOK {
		t.Errorf("HEAD feedback: %d", r.status)
	}
}
