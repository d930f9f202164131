package api

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// deviceFixture serves the API with telemetry and C2D over a real hub,
// with one device d1 and its token.
type deviceFixture struct {
	*fixture
	log         *d2c.Log
	deviceToken string
}

func newDeviceFixture(t *testing.T) *deviceFixture {
	t.Helper()
	l, err := d2c.Open(d2c.Options{Store: store.OpenMemory()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	h := hubtest.Open(t, hub.Options{Telemetry: l})
	srv := httptest.NewServer(New(h, Options{Telemetry: l, C2D: h.C2D()}))
	t.Cleanup(srv.Close)
	f := &deviceFixture{fixture: &fixture{t: t, srv: srv, hub: h, token: ownerToken(t, h)}, log: l}
	d, err := h.PutDevice(context.Background(), "d1", []byte(`{"deviceId":"d1"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	f.deviceToken = hubDeviceToken(t, "d1", d.Authentication.SymmetricKey.PrimaryKey)
	return f
}

func hubDeviceToken(t *testing.T, resource, key string) string {
	t.Helper()
	tok, err := sas.NewToken("localhost/devices/"+resource, key, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// asDevice sends a request with the device's token.
func (f *deviceFixture) asDevice(method, path, body string, headers ...string) response {
	f.t.Helper()
	saved := f.token
	f.token = f.deviceToken
	defer func() { f.token = saved }()
	return f.do(method, path, body, headers...)
}

func TestDeviceHTTPTelemetry(t *testing.T) {
	f := newDeviceFixture(t)
	r := f.asDevice("POST", "/devices/d1/messages/events?api-version=2020-09-30", "hello",
		"iothub-to", "/devices/d1/messages/events", "IoTHub-MessageId", "m1", "IoTHub-CorrelationId", "c1",
		"iothub-contenttype", "application/json", "iothub-contentencoding", "utf-8", "iothub-app-color", "blue green")
	if r.status != 204 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	batch := `[{"body":"` + base64.StdEncoding.EncodeToString([]byte("one")) + `","properties":{"iothub-app-n":"1"}},{"body":"` + base64.StdEncoding.EncodeToString([]byte{0, 1, 2}) + `"}]`
	if r := f.asDevice("POST", "/devices/d1/messages/events", batch, "Content-Type", "application/vnd.microsoft.iothub.json"); r.status != 204 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	msgs, _ := f.log.Read(d2c.Filter{DeviceID: "d1"}, 10)
	if len(msgs) != 3 {
		t.Fatalf("%d messages logged", len(msgs))
	}
	m := msgs[0]
	if string(m.Body) != "hello" || m.SystemProperties["message-id"] != "m1" || m.SystemProperties["correlation-id"] != "c1" ||
		m.SystemProperties["content-type"] != "application/json" || m.SystemProperties["content-encoding"] != "utf-8" ||
		m.Properties["color"] != "blue green" || len(m.Properties) != 1 {
		t.Fatalf("single message: %+v", m)
	}
	if _, ok := m.SystemProperties["to"]; ok {
		t.Fatalf("the request path was kept as the message's to: %+v", m.SystemProperties)
	}
	if string(msgs[1].Body) != "one" || msgs[1].Properties["n"] != "1" || string(msgs[2].Body) != "\x00\x01\x02" {
		t.Fatalf("batch: %+v %+v", msgs[1], msgs[2])
	}
}

func TestDeviceHTTPRefusals(t *testing.T) {
	f := newDeviceFixture(t)
	other, _ := f.hub.PutDevice(context.Background(), "d2", []byte(`{"deviceId":"d2"}`), "")
	otherToken := hubDeviceToken(t, "d2", other.Authentication.SymmetricKey.PrimaryKey)
	batch := "application/vnd.microsoft.iothub.json"
	cases := []struct {
		name, token, path, body, contentType string
		status                               int
		code                                 string
	}{
		{"no token", "", "/devices/d1/messages/events", "x", "", 401, "IotHubUnauthorized"},
		{"another device's token", otherToken, "/devices/d1/messages/events", "x", "", 401, "IotHubUnauthorized"},
		{"policy without DeviceConnect", policyToken(t, f.hub, "registryRead"), "/devices/d1/messages/events", "x", "", 401, "IotHubUnauthorized"},
		{"unknown device", f.deviceToken, "/devices/nope/messages/events", "x", "", 401, "IotHubUnauthorized"},
		{"too large", f.deviceToken, "/devices/d1/messages/events", strings.Repeat("x", d2c.MaxMessageSize+1), "", 413, "MessageTooLarge"},
		{"batch not JSON", f.deviceToken, "/devices/d1/messages/events", "[", batch, 400, "ArgumentInvalid"},
		{"batch empty", f.deviceToken, "/devices/d1/messages/events", "[]", batch, 400, "ArgumentInvalid"},
		{"batch body not base64", f.deviceToken, "/devices/d1/messages/events", `[{"body":"%%"}]`, batch, 400, "ArgumentInvalid"},
		{"batch unknown property", f.deviceToken, "/devices/d1/messages/events", `[{"body":"","properties":{"color":"x"}}]`, batch, 400, "ArgumentInvalid"},
		{"batch over the limit", f.deviceToken, "/devices/d1/messages/events",
			`[{"body":"` + base64.StdEncoding.EncodeToString(make([]byte, 200*1024)) + `"},{"body":"` + base64.StdEncoding.EncodeToString(make([]byte, 100*1024)) + `"}]`, batch, 413, "MessageTooLarge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.token = tc.token
			hs := []string{}
			if tc.contentType != "" {
				hs = append(hs, "Content-Type", tc.contentType)
			}
			wantError(t, f.do("POST", tc.path, tc.body, hs...), tc.status, tc.code)
			if msgs, _ := f.log.Read(d2c.Filter{}, 10); len(msgs) != 0 {
				t.Fatalf("%d messages kept after a refusal", len(msgs))
			}
		})
	}
	// A policy with DeviceConnect may send as any device.
	f.token = ownerToken(t, f.hub)
	if r := f.do("POST", "/devices/d1/messages/events", "x"); r.status != 204 {
		t.Fatalf("DeviceConnect policy: %d %s", r.status, r.body)
	}
	// A disabled device is refused.
	d, _ := f.hub.GetDevice(context.Background(), "d1")
	if _, err := f.hub.PutDevice(context.Background(), "d1", []byte(`{"deviceId":"d1","status":"disabled","authentication":{"symmetricKey":{"primaryKey":"`+d.Authentication.SymmetricKey.PrimaryKey+`","secondaryKey":"`+d.Authentication.SymmetricKey.SecondaryKey+`"}}}`), "*"); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.asDevice("GET", "/devices/d1/messages/devicebound", ""), 401, "IotHubUnauthorized")
}

func TestDeviceHTTPCloudToDevice(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	if r := f.asDevice("GET", "/devices/d1/messages/devicebound", ""); r.status != 204 {
		t.Fatalf("empty: %d %s", r.status, r.body)
	}
	q := f.hub.C2D()
	for _, body := range []string{"first", "second"} {
		if _, err := q.Enqueue(ctx, "d1", c2d.Message{Body: []byte(body), MessageID: "id-" + body, CorrelationID: "c", Ack: c2d.AckFull, ContentType: "text/plain", Properties: map[string]string{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	r := f.asDevice("GET", "/devices/d1/messages/devicebound", "")
	if r.status != 200 || r.body != "first" {
		t.Fatalf("receive: %d %s", r.status, r.body)
	}
	for name, want := range map[string]string{
		"iothub-messageid": "id-first", "iothub-correlationid": "c", "iothub-deliverycount": "1", "iothub-ack": "full",
		"iothub-to": "/devices/d1/messages/deviceBound", "iothub-app-k": "v", "Content-Type": "text/plain",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	etag := r.header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag %q", etag)
	}
	for _, h := range []string{"iothub-enqueuedtime", "iothub-expiry", "iothub-sequencenumber"} {
		if r.header.Get(h) == "" {
			t.Errorf("no %s", h)
		}
	}
	token := strings.Trim(etag, `"`)

	// Abandon: visible again, counted twice; then reject it.
	if r := f.asDevice("POST", "/devices/d1/messages/devicebound/"+token+"/abandon", "", "If-Match", token); r.status != 204 {
		t.Fatalf("abandon: %d %s", r.status, r.body)
	}
	r = f.asDevice("GET", "/devices/d1/messages/devicebound", "")
	if r.body != "first" || r.header.Get("iothub-deliverycount") != "2" {
		t.Fatalf("after abandon: %s %v", r.body, r.header)
	}
	token = strings.Trim(r.header.Get("ETag"), `"`)
	if r := f.asDevice("DELETE", "/devices/d1/messages/devicebound/"+token+"?api-version=2020-09-30&reject", ""); r.status != 204 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	wantError(t, f.asDevice("DELETE", "/devices/d1/messages/devicebound/"+token, ""), 412, "DeviceMessageLockLost")

	// Complete the second.
	r = f.asDevice("GET", "/devices/d1/messages/devicebound", "")
	if r.body != "second" {
		t.Fatalf("second: %s", r.body)
	}
	if r := f.asDevice("DELETE", "/devices/d1/messages/devicebound/"+strings.Trim(r.header.Get("ETag"), `"`), ""); r.status != 204 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if q.Pending("d1") != 0 {
		t.Fatalf("%d pending", q.Pending("d1"))
	}
	var codes []string
	for _, fb := range q.Feedback() {
		codes = append(codes, fb.StatusCode)
	}
	if strings.Join(codes, ",") != "Rejected,Success" {
		t.Fatalf("feedback %v", codes)
	}
	// Another device's token cannot settle or read d1's messages.
	other, _ := f.hub.PutDevice(ctx, "d2", []byte(`{"deviceId":"d2"}`), "")
	f.deviceToken = hubDeviceToken(t, "d2", other.Authentication.SymmetricKey.PrimaryKey)
	wantError(t, f.asDevice("GET", "/devices/d1/messages/devicebound", ""), 401, "IotHubUnauthorized")
}

func TestDeviceHTTPThrottleClasses(t *testing.T) {
	f := everyOption(t)
	for _, tc := range []struct{ method, path, class string }{
		{"POST", "/devices/d1/messages/events", "d2cSends"},
		{"POST", "/devices/d1/modules/m1/messages/events", "d2cSends"},
		{"GET", "/devices/d1/messages/devicebound", "c2dReceives"},
		{"DELETE", "/devices/d1/messages/devicebound/tok", ""},
		{"POST", "/devices/d1/messages/devicebound/tok/abandon", ""},
	} {
		rt, ok := f.s.routeOf(f.mux, tc.method, tc.path)
		if !ok || string(rt.class) != tc.class || !rt.access.device {
			t.Errorf("%s %s: route %+v (found %v), want class %q with device access", tc.method, tc.path, rt, ok, tc.class)
		}
	}
}

func FuzzParseEventBatch(f *testing.F) {
	f.Add([]byte(`[{"body":"aGk=","properties":{"iothub-app-a":"1","iothub-messageid":"m"}}]`))
	f.Add([]byte(`[{"body":""}]`))
	f.Add([]byte(`[{"properties":{}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := ParseEventBatch(body)
		if err != nil {
			if e := errcode.From(err); e.Code.HTTPStatus() != 400 {
				t.Fatalf("bad input answered %v", err)
			}
			return
		}
		if len(msgs) == 0 {
			t.Fatal("an empty batch accepted")
		}
		for _, m := range msgs {
			for k := range m.Properties {
				if k == "" {
					t.Fatal("an empty property name accepted")
				}
			}
		}
	})
}
