package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// createModule creates a module and returns its primary key.
func (s *service) createModule(deviceID, moduleID string) string {
	s.t.Helper()
	var m struct {
		Authentication struct {
			SymmetricKey struct{ PrimaryKey string }
		}
	}
	if st := s.do("PUT", "/devices/"+deviceID+"/modules/"+moduleID, map[string]string{"moduleId": moduleID}, &m); st != 200 {
		s.t.Fatalf("create module %s/%s: %d", deviceID, moduleID, st)
	}
	return m.Authentication.SymmetricKey.PrimaryKey
}

// The 256 KB device-to-cloud limit counts what the device sent (body,
// system property values, application property names and values, decoded),
// never what the hub adds (auth method, generation id, the retain marker):
// exactly the
// limit is stored, one byte more closes the connection and stores nothing.
func TestTelemetryAtTheSizeLimit(t *testing.T) {
	const limit = 256 * 1024
	const bag = "%24.ct=application%2Fjson&k=v"
	const bagSize = len("application/json") + len("k") + len("v") // decoded, as IoT Hub meters it
	e := start(t, t.TempDir(), false)
	svc := newService(t, e)
	key := svc.createDevice("big")

	tests := []struct {
		name   string
		topic  string
		body   int
		retain bool
		stored bool
	}{
		{"body alone at the limit", "devices/big/messages/events/", limit, false, true},
		{"body and property bag at the limit", "devices/big/messages/events/" + bag, limit - bagSize, false, true},
		{"retained at the limit", "devices/big/messages/events/", limit, true, true},
		{"one byte over", "devices/big/messages/events/", limit + 1, false, false},
		{"one byte over with the bag", "devices/big/messages/events/" + bag, limit - bagSize + 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dialDevice(t, e, "big", key, false)
			if err != nil {
				t.Fatal(err)
			}
			before := e.Telemetry().NextSequenceNumber()
			tk := d.client.Publish(tt.topic, 1, tt.retain, make([]byte, tt.body))
			if !tt.stored {
				select {
				case <-d.lost:
				case <-time.After(wait):
					t.Fatal("connection still open after an oversized message")
				}
				if got := e.Telemetry().NextSequenceNumber(); got != before {
					t.Fatalf("an oversized message was stored (next sequence %d, was %d)", got, before)
				}
				return
			}
			if !tk.WaitTimeout(wait) || tk.Error() != nil {
				t.Fatalf("publish not acknowledged: %v", tk.Error())
			}
			msgs, _ := e.Telemetry().Read(d2c.Filter{DeviceID: "big", FromSequence: before}, 10)
			if len(msgs) != 1 || len(msgs[0].Body) != tt.body {
				t.Fatalf("stored %d messages, want one of %d bytes", len(msgs), tt.body)
			}
			if msgs[0].SystemProperties["iothub-connection-auth-method"] == "" || (tt.retain && msgs[0].Properties["mqtt-retain"] != "true") {
				t.Fatalf("the hub's properties are missing: %v %v", msgs[0].SystemProperties, msgs[0].Properties)
			}
			d.client.Disconnect(50)
		})
	}
}

// Node's ModuleClient.sendOutputEvent ends the property bag with '/': the
// output name must not keep it.
func TestModuleOutputNameWithTrailingSlash(t *testing.T) {
	e := start(t, t.TempDir(), false)
	svc := newService(t, e)
	svc.createDevice("edge")
	mod, err := dialIdentity(t, e, "edge", "filter", svc.createModule("edge", "filter"), false)
	if err != nil {
		t.Fatal(err)
	}
	mod.publish("devices/edge/modules/filter/messages/events/%24.on=temperature/", `{"t":21}`)
	msgs, _ := e.Telemetry().Read(d2c.Filter{DeviceID: "edge"}, 10)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages", len(msgs))
	}
	if got := msgs[0].SystemProperties["iothub-outputname"]; got != "temperature" {
		t.Fatalf("iothub-outputname = %q, want %q", got, "temperature")
	}
	for k, v := range msgs[0].Properties {
		if strings.Contains(k+v, "/") {
			t.Fatalf("application property %q=%q from the closing slash", k, v)
		}
	}
}
