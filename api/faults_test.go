package api

import (
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// faultsClock starts where the fault golden files do.
func faultsClock() *testkit.Clock {
	return testkit.NewClockAt(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
}

type adminTest struct {
	t       *testing.T
	c       *testkit.Clock
	f       *faults.Injector
	hub     *hub.Hub
	h       http.Handler
	token   string
	dropped []string
}

func newAdmin(t *testing.T) *adminTest {
	a := &adminTest{t: t, c: faultsClock()}
	f, err := faults.New(faults.Options{Now: a.c.Now, Dropper: faults.DropperFunc(func(d, m string) { a.dropped = append(a.dropped, d+"/"+m) })})
	if err != nil {
		t.Fatal(err)
	}
	a.f = f
	a.hub = openHub(t)
	a.h = New(a.hub, Options{Faults: a.f, Now: a.c.Now})
	a.token = ownerToken(t, a.hub)
	return a
}

func (a *adminTest) do(method, target, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, authorized(httptest.NewRequest(method, target, strings.NewReader(body)), a.token))
	return rec
}

// checkRESTError checks IoT Hub's REST error form on a recorded response.
func checkRESTError(t *testing.T, rec *httptest.ResponseRecorder, status int, name string) {
	t.Helper()
	wantError(t, response{rec.Code, rec.Header(), rec.Body.String()}, status, name)
}

func TestFaultsAddEveryKind(t *testing.T) {
	tests := []struct {
		body string
		want faults.Fault // ID, Start and End not compared
	}{
		{`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10}`,
			faults.Fault{Kind: faults.KindRefuseConnects, DeviceID: "d1", ConnackCode: 3}},
		{`{"fault":"RefuseConnects","deviceId":"d1","moduleId":"m1","connackCode":5,"durationSeconds":10}`,
			faults.Fault{Kind: faults.KindRefuseConnects, DeviceID: "d1", ModuleID: "m1", ConnackCode: 5}},
		{`{"fault":"delayTwin","deviceId":"d1","delaySeconds":1.5,"durationSeconds":60}`,
			faults.Fault{Kind: faults.KindDelayTwin, DeviceID: "d1", Delay: 1500 * time.Millisecond}},
		{`{"fault":"throttle","operation":"TwinReads","durationSeconds":5,"startInSeconds":2}`,
			faults.Fault{Kind: faults.KindThrottle, Operation: faults.TwinReads}},
		{`{"fault":"throttleDevice","deviceId":"d1","durationSeconds":5}`,
			faults.Fault{Kind: faults.KindThrottleDevice, DeviceID: "d1"}},
		{`{"fault":"quotaExceeded","deviceId":"d1","durationSeconds":5}`,
			faults.Fault{Kind: faults.KindQuotaExceeded, DeviceID: "d1"}},
	}
	for _, tt := range tests {
		a := newAdmin(t)
		rec := a.do("POST", "/emulator/faults", tt.body)
		if rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", tt.body, rec.Code, rec.Body)
		}
		active := a.f.Active()
		if len(active) != 1 {
			t.Fatalf("%s: %d faults", tt.body, len(active))
		}
		got := active[0]
		var echoed struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &echoed); err != nil || echoed.ID != got.ID {
			t.Errorf("%s: response %s does not name fault %s", tt.body, rec.Body, got.ID)
		}
		got.ID, got.Start, got.End = "", time.Time{}, time.Time{}
		if got != tt.want {
			t.Errorf("%s: added %+v, want %+v", tt.body, got, tt.want)
		}
	}
}

func TestFaultsRefuseBadBodiesAndChangeNothing(t *testing.T) {
	const maxRequestBody = 64 << 10 // the admin API's bound on a body
	bodies := []string{
		``,
		`not json`,
		`[]`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10} {}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10,"color":"red"}`,
		`{"fault":"refuseConnects","deviceId":1,"durationSeconds":10}`,
		`{"fault":"refuseConnects","durationSeconds":10}`,
		`{"fault":"refuseConnects","deviceId":"d1"}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":-1}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":1e300}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10,"connackCode":4}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10,"connackCode":261}`,
		`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10,"startInSeconds":-5}`,
		`{"fault":"throttle","operation":"everything","durationSeconds":10}`,
		`{"fault":"throttle","durationSeconds":10}`,
		`{"fault":"delayTwin","deviceId":"d1","durationSeconds":10}`,
		`{"fault":"explode","deviceId":"d1","durationSeconds":10}`,
		`{"deviceId":"d1","durationSeconds":10}`,
		`{"fault":"drop"}`,
		`{"fault":"drop","deviceId":"d1","durationSeconds":3}`,
		`{"fault":"drop","deviceId":"a/b"}`,
		`{"fault":"refuseConnects","deviceId":"` + strings.Repeat("x", maxRequestBody) + `","durationSeconds":10}`,
	}
	for _, body := range bodies {
		a := newAdmin(t)
		rec := a.do("POST", "/emulator/faults", body)
		name := "ArgumentInvalid"
		status := 400
		if len(body) > maxRequestBody {
			name, status = "MessageTooLarge", 413
		}
		checkRESTError(t, rec, status, name)
		if len(a.f.Active()) != 0 || len(a.dropped) != 0 {
			t.Errorf("%.80s: changed state", body)
		}
	}
}

func TestFaultsDrop(t *testing.T) {
	a := newAdmin(t)
	rec := a.do("POST", "/emulator/faults", `{"fault":"drop","deviceId":"d1","moduleId":"m1"}`)
	if rec.Code != http.StatusNoContent || len(a.dropped) != 1 || a.dropped[0] != "d1/m1" {
		t.Fatalf("drop: %d, dropped %v", rec.Code, a.dropped)
	}
	if len(a.f.Active()) != 0 {
		t.Error("a drop is not a lasting fault")
	}
	// With the trailing slash too.
	if rec := a.do("POST", "/emulator/faults/", `{"fault":"drop","deviceId":"d2"}`); rec.Code != http.StatusNoContent || len(a.dropped) != 2 || a.dropped[1] != "d2/" {
		t.Fatalf("drop: %d %s, dropped %v", rec.Code, rec.Body, a.dropped)
	}
}

func TestFaultsListGetRemoveClear(t *testing.T) {
	a := newAdmin(t)
	for _, body := range []string{
		`{"fault":"refuseConnects","deviceId":"d1","connackCode":5,"durationSeconds":30}`,
		`{"fault":"throttle","operation":"queries","startInSeconds":5,"durationSeconds":60}`,
		`{"fault":"delayTwin","deviceId":"d2","moduleId":"m","delaySeconds":0.5,"durationSeconds":60}`,
	} {
		if rec := a.do("POST", "/emulator/faults", body); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body)
		}
	}
	if _, err := a.f.ScheduleDrop("d3", "", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// With or without the trailing slash.
	for _, target := range []string{"/emulator/faults", "/emulator/faults/"} {
		rec := a.do("GET", target, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %q: %d", target, rec.Code)
		}
		goldenJSON(t, "faults-list.json", rec.Body.Bytes())
	}

	rec := a.do("GET", "/emulator/faults/f3", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"fault":"delayTwin"`) {
		t.Fatalf("GET /f3: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("GET", "/emulator/faults/f3/", ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /f3/: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("DELETE", "/emulator/faults/f3", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE f3: %d", rec.Code)
	}
	checkRESTError(t, a.do("GET", "/emulator/faults/f3", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("DELETE", "/emulator/faults/f3", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("PUT", "/emulator/faults", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("GET", "/emulator/faults/f1/extra", ""), 404, "IotHubNotFound")
	if n := len(a.f.Active()); n != 3 {
		t.Fatalf("%d faults, want 3", n)
	}
	if rec := a.do("DELETE", "/emulator/faults", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE all: %d", rec.Code)
	}
	if rec := a.do("GET", "/emulator/faults", ""); rec.Body.String() != "[]" {
		t.Fatalf("list after clear = %s, want []", rec.Body)
	}
}

// The admin API needs ServiceConnect, unknown paths under it too.
func TestFaultsNeedServiceConnect(t *testing.T) {
	a := newAdmin(t)
	a.token = policyToken(t, a.hub, "registryReadWrite")
	for _, tt := range []struct{ method, target string }{
		{"GET", "/emulator/faults"}, {"POST", "/emulator/faults/"}, {"DELETE", "/emulator/faults/f1"}, {"PUT", "/emulator/faults/x/y"},
	} {
		checkRESTError(t, a.do(tt.method, tt.target, `{"fault":"drop","deviceId":"d1"}`), 401, "IotHubUnauthorized")
	}
	if len(a.dropped) != 0 {
		t.Fatal("an unauthorized request dropped a connection")
	}
}
