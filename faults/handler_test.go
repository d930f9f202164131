package faults

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

type adminTest struct {
	t       *testing.T
	c       *clock
	f       *Injector
	h       http.Handler
	dropped []string
}

func newAdmin(t *testing.T) *adminTest {
	a := &adminTest{t: t, c: newClock()}
	a.f = New(a.c.now)
	a.h = NewHandler(a.f, func(d, m string) { a.dropped = append(a.dropped, d+"/"+m) })
	return a
}

func (a *adminTest) do(method, target, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestHandlerAddsEveryKind(t *testing.T) {
	tests := []struct {
		body string
		want Fault // ID, Start and End not compared
	}{
		{`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10}`,
			Fault{Kind: KindRefuseConnects, DeviceID: "d1", ConnackCode: 3}},
		{`{"fault":"RefuseConnects","deviceId":"d1","moduleId":"m1","connackCode":5,"durationSeconds":10}`,
			Fault{Kind: KindRefuseConnects, DeviceID: "d1", ModuleID: "m1", ConnackCode: 5}},
		{`{"fault":"delayTwin","deviceId":"d1","delaySeconds":1.5,"durationSeconds":60}`,
			Fault{Kind: KindDelayTwin, DeviceID: "d1", Delay: 1500 * time.Millisecond}},
		{`{"fault":"throttle","operation":"TwinReads","durationSeconds":5,"startInSeconds":2}`,
			Fault{Kind: KindThrottle, Operation: TwinReads}},
		{`{"fault":"throttleDevice","deviceId":"d1","durationSeconds":5}`,
			Fault{Kind: KindThrottleDevice, DeviceID: "d1"}},
		{`{"fault":"quotaExceeded","deviceId":"d1","durationSeconds":5}`,
			Fault{Kind: KindQuotaExceeded, DeviceID: "d1"}},
	}
	for _, tt := range tests {
		a := newAdmin(t)
		rec := a.do("POST", "/", tt.body)
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

func TestHandlerRefusesBadBodiesAndChangesNothing(t *testing.T) {
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
		rec := a.do("POST", "/", body)
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

func TestHandlerDrop(t *testing.T) {
	a := newAdmin(t)
	rec := a.do("POST", "/emulator/faults", `{"fault":"drop","deviceId":"d1","moduleId":"m1"}`)
	if rec.Code != http.StatusNoContent || len(a.dropped) != 1 || a.dropped[0] != "d1/m1" {
		t.Fatalf("drop: %d, dropped %v", rec.Code, a.dropped)
	}
	if len(a.f.Active()) != 0 {
		t.Error("a drop is not a lasting fault")
	}

	// Without a dropper of its own the handler uses the injector's.
	f := New(nil)
	var got string
	f.SetDropper(func(d, m string) { got = d + "/" + m })
	rec = httptest.NewRecorder()
	NewHandler(f, nil).ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(`{"fault":"drop","deviceId":"d2"}`)))
	if rec.Code != http.StatusNoContent || got != "d2/" {
		t.Fatalf("drop through the injector: %d, dropped %q", rec.Code, got)
	}
}

func TestHandlerListGetRemoveClear(t *testing.T) {
	a := newAdmin(t)
	for _, body := range []string{
		`{"fault":"refuseConnects","deviceId":"d1","connackCode":5,"durationSeconds":30}`,
		`{"fault":"throttle","operation":"queries","startInSeconds":5,"durationSeconds":60}`,
		`{"fault":"delayTwin","deviceId":"d2","moduleId":"m","delaySeconds":0.5,"durationSeconds":60}`,
	} {
		if rec := a.do("POST", "/", body); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body)
		}
	}
	if _, err := a.f.ScheduleDrop("d3", "", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Mounted with or without the prefix stripped.
	stripped := http.StripPrefix(MountPath, a.h)
	for _, target := range []string{"/", "/emulator/faults", "/emulator/faults/"} {
		for i, h := range []http.Handler{a.h, stripped} {
			if i == 1 && !strings.HasPrefix(target, MountPath) {
				continue
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %q: %d", target, rec.Code)
			}
			golden(t, "list.json", rec.Body.Bytes())
		}
	}

	rec := a.do("GET", "/f3", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"fault":"delayTwin"`) {
		t.Fatalf("GET /f3: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("DELETE", "/emulator/faults/f3", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE f3: %d", rec.Code)
	}
	checkRESTError(t, a.do("GET", "/f3", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("DELETE", "/f3", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("PUT", "/", ""), 404, "IotHubNotFound")
	checkRESTError(t, a.do("GET", "/f1/extra", ""), 404, "IotHubNotFound")
	if n := len(a.f.Active()); n != 3 {
		t.Fatalf("%d faults, want 3", n)
	}
	if rec := a.do("DELETE", "/", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE all: %d", rec.Code)
	}
	if rec := a.do("GET", "/", ""); rec.Body.String() != "[]" {
		t.Fatalf("list after clear = %s, want []", rec.Body)
	}
}

// golden compares got with testdata/name; -update rewrites it.
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
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, pretty.Bytes(), want)
	}
}

func FuzzDecodeAdd(f *testing.F) {
	f.Add(`{"fault":"refuseConnects","deviceId":"d1","durationSeconds":10}`)
	f.Add(`{"fault":"throttle","operation":"queries","durationSeconds":1e-9}`)
	f.Add(`{"fault":"delayTwin","deviceId":"d","delaySeconds":600,"durationSeconds":86400}`)
	f.Add(`{"fault":"drop","deviceId":"d"}`)
	f.Add(`{"connackCode":-1}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeAdd(strings.NewReader(body))
		if err != nil {
			return
		}
		spec, err := req.spec()
		if err != nil {
			return
		}
		inj := New(newClock().now)
		ft, err := inj.Add(spec)
		if err != nil {
			if len(inj.Active()) != 0 {
				t.Fatal("a refused fault was added")
			}
			return
		}
		if d := ft.End.Sub(ft.Start); d <= 0 || d > MaxDuration || ft.Delay > MaxTwinDelay {
			t.Fatalf("fault out of bounds: %+v", ft)
		}
	})
}
