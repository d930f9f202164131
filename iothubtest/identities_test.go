package iothubtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func TestCreateDeviceAndModule(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "dev-1")
	cs, err := sas.ParseConnectionString(dev.ConnectionString)
	if err != nil {
		t.Fatal(err)
	}
	if dev.ID != "dev-1" || dev.PrimaryKey == "" || dev.SecondaryKey == "" || dev.PrimaryKey == dev.SecondaryKey ||
		cs != (sas.ConnectionString{HostName: "127.0.0.1", DeviceID: "dev-1", SharedAccessKey: dev.PrimaryKey}) {
		t.Fatalf("device %+v, connection string %+v", dev, cs)
	}
	reg, err := h.Emulator().Hub().GetDevice(context.Background(), "dev-1")
	if err != nil || reg.Status != "enabled" || reg.Authentication.SymmetricKey.PrimaryKey != dev.PrimaryKey {
		t.Fatalf("registry has %+v, %v", reg, err)
	}

	mod := h.CreateModule(t, "dev-1", "mod-1")
	mcs, err := sas.ParseConnectionString(mod.ConnectionString)
	if err != nil {
		t.Fatal(err)
	}
	if mod.DeviceID != "dev-1" || mod.ID != "mod-1" || mod.PrimaryKey == "" || mod.PrimaryKey == dev.PrimaryKey ||
		mcs != (sas.ConnectionString{HostName: "127.0.0.1", DeviceID: "dev-1", ModuleID: "mod-1", SharedAccessKey: mod.PrimaryKey}) {
		t.Fatalf("module %+v, connection string %+v", mod, mcs)
	}
	// Both connection strings connect, at the same time.
	h.DialMQTT(t, dev.ConnectionString)
	h.DialMQTT(t, mod.ConnectionString)
	h.WaitTwin(t, "dev-1", wait, func(tw map[string]any) bool { return tw["connectionState"] == "Connected" })
	if st := h.ModuleTwin(t, "dev-1", "mod-1")["connectionState"]; st != "Connected" {
		t.Fatalf("module connectionState %v", st)
	}
}

// dialRaw connects a hand-written MQTT client as a device with password and
// reports whether the hub accepted it.
func dialRaw(t *testing.T, h *iothubtest.Hub, deviceID, password string) error {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("ssl://" + h.MQTTAddr()).
		SetTLSConfig(h.ClientTLSConfig()).
		SetClientID(deviceID).
		SetUsername("localhost/" + deviceID + "/?api-version=2021-04-12").
		SetPassword(password).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectTimeout(wait))
	tok := c.Connect()
	if !tok.WaitTimeout(wait + time.Second) {
		t.Fatalf("connect as %s: no answer within %v", deviceID, wait)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(50)
	return nil
}

func TestSASToken(t *testing.T) {
	h := iothubtest.Start(t)
	h.CreateDevice(t, "a")
	h.CreateDevice(t, "b")
	tok := h.SASToken(t, "a", time.Hour)
	parsed, err := sas.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Resource != "127.0.0.1/devices/a" || parsed.KeyName != "" {
		t.Fatalf("token %+v", parsed)
	}
	if exp := time.Until(parsed.ExpiresAt()); exp < 59*time.Minute || exp > time.Hour {
		t.Fatalf("token expires in %v, want an hour", exp)
	}
	for _, tc := range []struct {
		name, device, password string
		accepted               bool
	}{
		{"own token", "a", tok, true},
		{"another device's token", "b", tok, false},
		{"expired token", "a", h.SASToken(t, "a", -time.Minute), false},
		{"zero ttl", "a", h.SASToken(t, "a", 0), false},
	} {
		err := dialRaw(t, h, tc.device, tc.password)
		if (err == nil) != tc.accepted {
			t.Errorf("%s: connect error %v, want accepted=%v", tc.name, err, tc.accepted)
		}
	}
}

// TestHelpersFailClearly checks that each helper fails the test, once, with
// a message that names the helper's operation and the cause.
func TestHelpersFailClearly(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")
	off := h.CreateDevice(t, "off")
	if _, err := h.Emulator().Hub().PutDevice(context.Background(), "off", []byte(`{"deviceId":"off","status":"disabled"}`), "*"); err != nil {
		t.Fatal(err)
	}
	wrongKey := strings.Replace(dev.ConnectionString, dev.PrimaryKey, off.PrimaryKey, 1)

	for _, tc := range []struct {
		name string
		call func(tb testing.TB)
		want []string
	}{
		{"duplicate device", func(tb testing.TB) { h.CreateDevice(tb, "d1") }, []string{`create device "d1"`, "already registered"}},
		{"invalid device id", func(tb testing.TB) { h.CreateDevice(tb, "no spaces") }, []string{`create device "no spaces"`}},
		{"module of unknown device", func(tb testing.TB) { h.CreateModule(tb, "ghost", "m") }, []string{`create module "m" on device "ghost"`, "ghost"}},
		{"twin of unknown device", func(tb testing.TB) { h.Twin(tb, "ghost") }, []string{`twin of device "ghost"`, "not registered"}},
		{"twin of unknown module", func(tb testing.TB) { h.ModuleTwin(tb, "d1", "ghost") }, []string{`twin of module "ghost" on device "d1"`, "not found"}},
		{"desired of unknown device", func(tb testing.TB) { h.UpdateDesired(tb, "ghost", map[string]any{"a": 1}) }, []string{`update desired properties of device "ghost"`}},
		{"desired with a bad name", func(tb testing.TB) { h.UpdateDesired(tb, "d1", map[string]any{"a.b": 1}) }, []string{`update desired properties of device "d1"`, "a.b"}},
		{"desired that is not JSON", func(tb testing.TB) { h.UpdateDesired(tb, "d1", map[string]any{"f": func() {}}) }, []string{`update desired properties of device "d1"`, "unsupported type"}},
		{"reported of unknown device", func(tb testing.TB) { h.SetReported(tb, "ghost", map[string]any{"a": 1}) }, []string{`set reported properties of device "ghost"`}},
		{"reported with a bad name", func(tb testing.TB) { h.SetReported(tb, "d1", map[string]any{"$bad": 1}) }, []string{`set reported properties of device "d1"`, "$bad"}},
		{"C2D to unknown device", func(tb testing.TB) { h.SendC2D(tb, "ghost", []byte("x"), nil) }, []string{`device "ghost"`, "does not exist or is disabled"}},
		{"C2D to disabled device", func(tb testing.TB) { h.SendC2D(tb, "off", []byte("x"), nil) }, []string{`device "off"`, "does not exist or is disabled"}},
		{"C2D with a reserved property", func(tb testing.TB) { h.SendC2D(tb, "d1", []byte("x"), map[string]string{"iothub-ack": "full"}) }, []string{`device "d1"`, "iothub-ack"}},
		{"token of unknown device", func(tb testing.TB) { h.SASToken(tb, "ghost", time.Hour) }, []string{`SAS token for device "ghost"`}},
		{"no telemetry", func(tb testing.TB) { h.NextTelemetry(tb, "d1", 50*time.Millisecond) }, []string{`no telemetry from device "d1" within 50ms`, "0 returned before"}},
		{"no module telemetry", func(tb testing.TB) { h.NextModuleTelemetry(tb, "d1", "m", 50*time.Millisecond) }, []string{`no telemetry from module "m" on device "d1" within 50ms`}},
		{"twin never matches", func(tb testing.TB) {
			h.WaitTwin(tb, "d1", 50*time.Millisecond, func(map[string]any) bool { return false })
		}, []string{`the twin of device "d1" did not reach the expected state within 50ms`, `"deviceId":"d1"`}},
		{"wait for unknown twin", func(tb testing.TB) {
			h.WaitTwin(tb, "ghost", time.Second, func(map[string]any) bool { return true })
		}, []string{`wait for the twin of device "ghost"`}},
		{"dial with a bad connection string", func(tb testing.TB) { h.DialMQTT(tb, "DeviceId=d1") }, []string{"dial MQTT", "HostName is required"}},
		{"dial without a device", func(tb testing.TB) { h.DialMQTT(tb, "HostName=localhost;SharedAccessKey=abc=") }, []string{"dial MQTT", "no DeviceId"}},
		{"dial without a key", func(tb testing.TB) { h.DialMQTT(tb, "HostName=localhost;DeviceId=d1") }, []string{"dial MQTT as d1", "neither SharedAccessKey nor SharedAccessSignature"}},
		{"dial with a wrong key", func(tb testing.TB) { h.DialMQTT(tb, wrongKey) }, []string{"dial MQTT as d1", "not Authorized"}},
		{"dial a disabled device", func(tb testing.TB) { h.DialMQTT(tb, off.ConnectionString) }, []string{"dial MQTT as off"}},
	} {
		t.Run(tc.name, func(t *testing.T) { mustFail(t, tc.call, tc.want...) })
	}
}

func TestDialMQTTTakesEveryCredentialForm(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")
	mod := h.CreateModule(t, "d1", "m1")
	policy, ok := h.Emulator().Hub().Policies().Find("device")
	if !ok {
		t.Fatal("no device policy")
	}
	for _, tc := range []struct{ name, cs string }{
		{"primary key", dev.ConnectionString},
		{"secondary key", "HostName=localhost;DeviceId=d1;SharedAccessKey=" + dev.SecondaryKey},
		{"policy key", "HostName=localhost;DeviceId=d1;SharedAccessKeyName=device;SharedAccessKey=" + policy.PrimaryKey},
		{"ready-made signature", "HostName=localhost;DeviceId=d1;SharedAccessSignature=" + h.SASToken(t, "d1", time.Hour)},
		{"module key", mod.ConnectionString},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInbox(t)
			c := h.DialMQTT(t, tc.cs, in.option)
			// The connection is the identity's own: its twin answers.
			subscribe(t, c, "$iothub/twin/res/#")
			publish(t, c, "$iothub/twin/GET/?$rid=1", "")
			in.next("$iothub/twin/res/200/?$rid=1")
			c.Disconnect(50)
		})
	}
}
