package hub

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// echoInvoker answers every call with status 200 and the payload it got,
// remembering the timeouts it was given.
type echoInvoker struct{ connect, response time.Duration }

func (e *echoInvoker) InvokeMethod(_ context.Context, deviceID, moduleID, name string, payload []byte, connect, response time.Duration) (int, []byte, error) {
	e.connect, e.response = connect, response
	if name == "raw" {
		return 201, []byte("not json"), nil
	}
	return 200, payload, nil
}

func TestInvokeMethodValidation(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	h.PutDevice(ctx, "d1", []byte(`{}`), "")
	h.PutDevice(ctx, "off", []byte(`{"status":"disabled"}`), "")
	_, err := h.InvokeMethod(ctx, "d1", "", []byte(`{"methodName":"reboot"}`))
	wantCode(t, err, errcode.DeviceNotOnline)

	inv := &echoInvoker{}
	rec.mu.Lock()
	rec.invoker = inv
	rec.mu.Unlock()
	tests := []struct {
		name, device, body string
		code               errcode.Code
		want               string
	}{
		{"defaults", "d1", `{"methodName":"reboot"}`, 0, `{"status":200,"payload":null}`},
		{"payload echoed", "d1", `{"methodName":"m","payload":{"delay":5},"responseTimeoutInSeconds":5,"connectTimeoutInSeconds":300}`, 0, `{"status":200,"payload":{"delay":5}}`},
		{"non-JSON answer becomes a string", "d1", `{"methodName":"raw"}`, 0, `{"status":201,"payload":"not json"}`},
		{"no name", "d1", `{"payload":1}`, errcode.ArgumentNull, ""},
		{"empty body", "d1", ``, errcode.ArgumentNull, ""},
		{"not json", "d1", `{`, errcode.ArgumentInvalid, ""},
		{"response timeout too short", "d1", `{"methodName":"m","responseTimeoutInSeconds":4}`, errcode.ArgumentInvalid, ""},
		{"response timeout too long", "d1", `{"methodName":"m","responseTimeoutInSeconds":301}`, errcode.ArgumentInvalid, ""},
		{"connect timeout too long", "d1", `{"methodName":"m","connectTimeoutInSeconds":301}`, errcode.ArgumentInvalid, ""},
		{"payload too large", "d1", `{"methodName":"m","payload":"` + strings.Repeat("x", 128*1024) + `"}`, errcode.ArgumentInvalid, ""},
		{"unknown device", "ghost", `{"methodName":"m"}`, errcode.DeviceNotFound, ""},
		{"disabled device", "off", `{"methodName":"m"}`, errcode.DeviceNotOnline, ""},
	}
	for _, tc := range tests {
		res, err := h.InvokeMethod(ctx, tc.device, "", []byte(tc.body))
		if tc.code != 0 {
			if !errcode.Is(err, tc.code) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := mustJSON(t, res); got != tc.want {
			t.Errorf("%s: result %s, want %s", tc.name, got, tc.want)
		}
	}
	h.InvokeMethod(ctx, "d1", "", []byte(`{"methodName":"m","responseTimeoutInSeconds":7,"connectTimeoutInSeconds":3}`))
	if inv.response != 7*time.Second || inv.connect != 3*time.Second {
		t.Fatalf("timeouts passed on: %v %v", inv.connect, inv.response)
	}
}
