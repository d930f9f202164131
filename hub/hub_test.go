package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// recorder is the hub's Devices in tests: it remembers what the hub sent,
// answers direct methods through invoker (none: not online) and has every
// device offline for cloud-to-device deliveries.
type recorder struct {
	mu          sync.Mutex
	desired     []string
	disconnects []string // "d1" for Disconnect, "forget d1/m1" for Forget
	invoker     MethodInvoker
}

func (r *recorder) Forget(deviceID, moduleID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disconnects = append(r.disconnects, "forget "+identityKey(deviceID, moduleID))
}

func (r *recorder) InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connect, response time.Duration) (int, []byte, error) {
	r.mu.Lock()
	inv := r.invoker
	r.mu.Unlock()
	if inv == nil {
		return 0, nil, errcode.New(errcode.DeviceNotOnline, "The device is not online.")
	}
	return inv.InvokeMethod(ctx, deviceID, moduleID, name, payload, connect, response)
}

func (r *recorder) Deliver(string, c2d.Message, func()) error { return errOffline }

var errOffline = errors.New("device offline")

// open opens a hub on st with a telemetry log on the same store and a
// fresh recorder unless opts has them; the hub is closed at cleanup.
func open(t testing.TB, opts Options) (*Hub, error) {
	t.Helper()
	if opts.Devices == nil {
		opts.Devices = &recorder{}
	}
	if opts.Telemetry == nil && opts.Store != nil {
		tl, err := d2c.Open(d2c.Options{Store: opts.Store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		opts.Telemetry = tl
	}
	h, err := Open(opts)
	if err == nil {
		t.Cleanup(func() { h.Close() })
	}
	return h, err
}

// newRecordedHub is newHub with the recorder it notifies.
func newRecordedHub(t *testing.T) (*Hub, *recorder) {
	t.Helper()
	rec := &recorder{}
	h, _ := openHubWith(t, filepath.Join(t.TempDir(), "hub.db"), rec)
	return h, rec
}

func (r *recorder) DesiredChanged(deviceID, moduleID string, version int64, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.desired = append(r.desired, fmt.Sprintf("%s v%d %s", deviceID, version, body))
}

func (r *recorder) Disconnect(deviceID, moduleID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disconnects = append(r.disconnects, deviceID)
}

func openHub(t testing.TB, path string) (*Hub, *store.File) {
	t.Helper()
	return openHubWith(t, path, &recorder{})
}

func openHubWith(t testing.TB, path string, rec *recorder) (*Hub, *store.File) {
	t.Helper()
	st := storetest.Open(t, path) // checked when the test ends, unless closed by it
	h, err := open(t, Options{Store: st, Devices: rec, HostNames: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return h, st
}

func newHub(t *testing.T) *Hub {
	t.Helper()
	h, _ := openHub(t, filepath.Join(t.TempDir(), "hub.db"))
	return h
}

func wantCode(t *testing.T, err error, code errcode.Code) {
	t.Helper()
	if !errcode.Is(err, code) {
		t.Fatalf("error = %v, want %v", err, code)
	}
}

func TestDeviceLifecycle(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	d, err := h.PutDevice(ctx, "d1", []byte(`{"deviceId":"d1"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "enabled" || d.ConnectionState != "Disconnected" || d.ETag == "" || d.GenerationID == "" ||
		d.LastActivityTime != registry.NeverTime || d.Authentication.SymmetricKey == nil {
		t.Fatalf("created device = %+v", d)
	}
	_, err = h.PutDevice(ctx, "d1", []byte(`{"deviceId":"d1"}`), "")
	wantCode(t, err, errcode.DeviceAlreadyExists)
	_, err = h.PutDevice(ctx, "nope", []byte(`{}`), `"*"`)
	wantCode(t, err, errcode.DeviceNotFound)
	_, err = h.PutDevice(ctx, "d1", []byte(`{"status":"disabled"}`), `"stale"`)
	wantCode(t, err, errcode.PreconditionFailed)
	_, err = h.PutDevice(ctx, "bad id", []byte(`{}`), "")
	wantCode(t, err, errcode.ArgumentInvalid)

	for _, form := range []func(string) string{
		func(e string) string { return `"` + e + `"` },
		func(e string) string { return e },
		func(string) string { return "*" },
		func(string) string { return `"*"` },
	} {
		ifMatch := form(d.ETag)
		d2, err := h.PutDevice(ctx, "d1", []byte(`{"deviceId":"d1","status":"disabled"}`), ifMatch)
		if err != nil {
			t.Fatalf("If-Match %s: %v", ifMatch, err)
		}
		if d2.ETag == d.ETag || d2.Status != "disabled" || d2.GenerationID != d.GenerationID {
			t.Fatalf("update gave %+v", d2)
		}
		d = d2
	}
	rs, _ := h.Statistics()
	if rs != (RegistryStatistics{TotalDeviceCount: 1, DisabledDeviceCount: 1}) {
		t.Fatalf("stats = %+v", rs)
	}
	wantCode(t, h.DeleteDevice(ctx, "d1", `"old"`), errcode.PreconditionFailed)
	if err := h.DeleteDevice(ctx, "d1", `"*"`); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.DeleteDevice(ctx, "d1", ""), errcode.DeviceNotFound)
	_, err = h.GetTwin(ctx, "d1", "")
	wantCode(t, err, errcode.DeviceNotFound)

	// A re-created device is a new generation.
	d3, err := h.PutDevice(ctx, "d1", []byte(`{}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if d3.GenerationID == d.GenerationID {
		t.Fatalf("re-created device kept generationId %s", d3.GenerationID)
	}
}

func TestTwinUpdatesAndNotifications(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	tw, err := h.GetTwin(ctx, "d1", "")
	if err != nil {
		t.Fatal(err)
	}
	etag := tw["etag"].(string)
	_, err = h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"a":1}}`), `"AAAAAAAAAAk="`, false)
	wantCode(t, err, errcode.PreconditionFailed)
	tw, err = h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"location":{"plant":"Redmond43"}},"properties":{"desired":{"telemetryInterval":5}}}`), `"`+etag+`"`, false)
	if err != nil {
		t.Fatal(err)
	}
	if tw["etag"] == etag || tw["tags"].(map[string]any)["location"] == nil {
		t.Fatalf("twin after patch = %v", tw)
	}
	// A rejected write changes nothing.
	before, _ := json.Marshal(tw)
	_, err = h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"bad.key":1}}`), "", false)
	wantCode(t, err, errcode.ArgumentInvalid)
	now, _ := h.GetTwin(ctx, "d1", "")
	after, _ := json.Marshal(now)
	if string(before) != string(after) {
		t.Fatalf("a rejected patch changed the twin:\n%s\n%s", before, after)
	}
	if _, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"properties":{"desired":{"telemetryInterval":null,"mode":"eco"}}}`), "*", false); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := append([]string{}, rec.desired...)
	rec.mu.Unlock()
	want := []string{
		`d1 v2 {"telemetryInterval":5,"$version":2}`,
		`d1 v3 {"telemetryInterval":null,"mode":"eco","$version":3}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications:\n got %q\nwant %q", got, want)
	}
	// Tag-only writes notify nobody.
	if _, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"x":true}}`), "", false); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	n := len(rec.desired)
	rec.mu.Unlock()
	if n != 2 {
		t.Fatalf("a tags-only patch sent a desired notification (%d)", n)
	}
}

func TestReportedPatchAndQueryReadYourWrites(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := h.PutDevice(ctx, id, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	v, err := h.PatchReported(ctx, "b", "", []byte(`{"connectivity":{"type":"cellular"}}`))
	if err != nil || v != 2 {
		t.Fatalf("PatchReported = %d, %v", v, err)
	}
	_, err = h.PatchReported(ctx, "b", "", []byte(`[1,2]`))
	wantCode(t, err, errcode.ArgumentInvalid)
	_, err = h.PatchReported(ctx, "zz", "", []byte(`{}`))
	wantCode(t, err, errcode.DeviceNotFound)

	page, err := h.Query(ctx, "SELECT * FROM devices WHERE properties.reported.connectivity.type = 'cellular'", query.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].(map[string]any)["deviceId"] != "b" || page.ItemType != "Twin" {
		t.Fatalf("query page = %+v", page)
	}
	var body map[string]map[string]any
	raw, err := h.DeviceTwin(ctx, "b", "")
	if err != nil || json.Unmarshal(raw, &body) != nil {
		t.Fatalf("DeviceTwin = %s, %v", raw, err)
	}
	if body["reported"]["$version"] != float64(2) || body["desired"]["$version"] != float64(1) {
		t.Fatalf("device twin body = %s", raw)
	}
	_, err = h.Query(ctx, "SELECT * FORM devices", query.PageOptions{})
	wantCode(t, err, errcode.ArgumentInvalid)
}

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	h, st := openHub(t, path)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"t":1},"properties":{"desired":{"d":2}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PatchReported(ctx, "d1", "", []byte(`{"r":3}`)); err != nil {
		t.Fatal(err)
	}
	h.SetConnected(ctx, "d1", "", true, "dtmi:com:example;1")
	want, _ := h.GetTwin(ctx, "d1", "")
	dev, _ := h.GetDevice(ctx, "d1")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	h2, st2 := openHub(t, path)
	defer st2.Close()
	got, err := h2.GetTwin(ctx, "d1", "")
	if err != nil {
		t.Fatal(err)
	}
	if got["connectionState"] != "Disconnected" {
		t.Fatalf("after restart connectionState = %v", got["connectionState"])
	}
	// Everything but the connection state survives.
	want["connectionState"] = "Disconnected"
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Fatalf("twin after restart:\n got %s\nwant %s", gj, wj)
	}
	dev2, _ := h2.GetDevice(ctx, "d1")
	if dev2.ETag != dev.ETag || dev2.Authentication.SymmetricKey.PrimaryKey != dev.Authentication.SymmetricKey.PrimaryKey {
		t.Fatalf("device after restart = %+v", dev2)
	}
	// New etags keep increasing after a restart.
	dev3, err := h2.PutDevice(ctx, "d2", []byte(`{}`), "")
	if err != nil || dev3.ETag == dev.ETag {
		t.Fatalf("etag after restart: %v %v", dev3.ETag, err)
	}
	if page, _ := h2.Query(ctx, "SELECT * FROM devices WHERE tags.t = 1", query.PageOptions{}); len(page.Items) != 1 {
		t.Fatalf("query after restart found %d", len(page.Items))
	}
}

func TestServiceAuthorization(t *testing.T) {
	h := newHub(t)
	exp := time.Now().Add(time.Hour)
	sign := func(host, policy, key string, at time.Time) string {
		tok, err := sas.NewToken(host, key, policy, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	p := func(name string) registry.Policy { pol, _ := h.Policies().Find(name); return pol }
	tests := []struct {
		name   string
		header string
		need   registry.Permission
		ok     bool
	}{
		{"owner reads", sign("localhost", "iothubowner", p("iothubowner").PrimaryKey, exp), registry.RegistryRead, true},
		{"secondary key", sign("localhost", "iothubowner", p("iothubowner").SecondaryKey, exp), registry.RegistryWrite, true},
		{"host with port", sign("localhost:8443", "service", p("service").PrimaryKey, exp), registry.ServiceConnect, true},
		{"ip host", sign("127.0.0.1", "registryRead", p("registryRead").PrimaryKey, exp), registry.RegistryRead, true},
		{"service cannot write registry", sign("localhost", "service", p("service").PrimaryKey, exp), registry.RegistryWrite, false},
		{"registryRead cannot write", sign("localhost", "registryRead", p("registryRead").PrimaryKey, exp), registry.RegistryWrite, false},
		{"wrong key", sign("localhost", "iothubowner", p("service").PrimaryKey, exp), registry.RegistryRead, false},
		{"expired", sign("localhost", "iothubowner", p("iothubowner").PrimaryKey, time.Now().Add(-time.Second)), registry.RegistryRead, false},
		{"other hub", sign("otherhub.azure-devices.net", "iothubowner", p("iothubowner").PrimaryKey, exp), registry.RegistryRead, false},
		{"unknown policy", sign("localhost", "nobody", p("iothubowner").PrimaryKey, exp), registry.RegistryRead, false},
		{"no skn", sign("localhost", "", p("iothubowner").PrimaryKey, exp), registry.RegistryRead, false},
		{"missing", "", registry.RegistryRead, false},
		{"garbage", "SharedAccessSignature nonsense", registry.RegistryRead, false},
	}
	for _, tc := range tests {
		err := h.AuthorizeService(tc.header, "/devices/d1", tc.need)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errcode.Is(err, errcode.IotHubUnauthorized) {
			t.Errorf("%s: error = %v, want IotHubUnauthorized", tc.name, err)
		}
	}
}

func TestServiceTokenScope(t *testing.T) {
	h := newHub(t)
	owner, _ := h.Policies().Find("iothubowner")
	tests := []struct {
		sr, path string
		ok       bool
	}{
		{"localhost", "/devices/d1", true},
		{"localhost/devices/d1", "/devices/d1", true},
		{"localhost/devices/d1", "/devices/d1/modules/m1", true},
		{"localhost/devices", "/devices/query", true},
		{"localhost/devices/someoneelse", "/devices/d1", false},
		{"localhost/devices/d", "/devices/d1", false},
		{"localhost/devices/d1", "/twins/d1", false},
	}
	for _, tc := range tests {
		tok, err := sas.NewToken(tc.sr, owner.PrimaryKey, owner.Name, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		err = h.AuthorizeService(tok, tc.path, registry.RegistryRead)
		if tc.ok != (err == nil) {
			t.Errorf("sr=%s on %s: err = %v, want ok=%v", tc.sr, tc.path, err, tc.ok)
		}
	}
}

func TestDeviceAuthentication(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	d, err := h.PutDevice(ctx, "d1", []byte(`{}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(ctx, "off", []byte(`{"status":"disabled"}`), ""); err != nil {
		t.Fatal(err)
	}
	keys := d.Authentication.SymmetricKey
	exp := time.Now().Add(time.Hour)
	tok := func(resource, key, skn string, at time.Time) string {
		s, err := sas.NewToken(resource, key, skn, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	owner, _ := h.Policies().Find("iothubowner")
	service, _ := h.Policies().Find("service")
	tests := []struct {
		name, device, password string
		ok                     bool
	}{
		{"device key", "d1", tok("localhost/devices/d1", keys.PrimaryKey, "", exp), true},
		{"secondary key", "d1", tok("localhost/devices/d1", keys.SecondaryKey, "", exp), true},
		{"policy with DeviceConnect", "d1", tok("localhost/devices", owner.PrimaryKey, "iothubowner", exp), true},
		{"policy without DeviceConnect", "d1", tok("localhost/devices/d1", service.PrimaryKey, "service", exp), false},
		{"token for another device", "d1", tok("localhost/devices/d2", keys.PrimaryKey, "", exp), false},
		{"prefix is not a segment", "d1", tok("localhost/devices/d", keys.PrimaryKey, "", exp), false},
		{"wrong key", "d1", tok("localhost/devices/d1", owner.PrimaryKey, "", exp), false},
		{"expired", "d1", tok("localhost/devices/d1", keys.PrimaryKey, "", time.Now().Add(-time.Minute)), false},
		{"unknown device", "ghost", tok("localhost/devices/ghost", keys.PrimaryKey, "", exp), false},
		{"disabled device", "off", tok("localhost/devices/off", owner.PrimaryKey, "iothubowner", exp), false},
		{"empty password", "d1", "", false},
	}
	for _, tc := range tests {
		got, err := h.AuthenticateDevice(tc.device, "", tc.password)
		if tc.ok && (err != nil || got.Unix() != exp.Unix()) {
			t.Errorf("%s: expiry %v, err %v", tc.name, got, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// New keys end the device's connection.
	if _, err := h.PutDevice(ctx, "d1", []byte(`{"authentication":{"type":"sas"}}`), "*"); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if fmt.Sprint(rec.disconnects) != "[d1]" {
		t.Fatalf("disconnects = %v", rec.disconnects)
	}
}

func TestConnectionStateAndStatistics(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	h.SetConnected(ctx, "d1", "", true, "dtmi:x;1")
	tw, _ := h.GetTwin(ctx, "d1", "")
	d, _ := h.GetDevice(ctx, "d1")
	if tw["connectionState"] != "Connected" || tw["modelId"] != "dtmi:x;1" || d.LastActivityTime == registry.NeverTime {
		t.Fatalf("twin %v device %+v", tw, d)
	}
	if _, ss := h.Statistics(); ss.ConnectedDeviceCount != 1 {
		t.Fatalf("connected = %d", ss.ConnectedDeviceCount)
	}
	h.SetConnected(ctx, "d1", "", false, "")
	tw, _ = h.GetTwin(ctx, "d1", "")
	if tw["connectionState"] != "Disconnected" || tw["modelId"] != "dtmi:x;1" {
		t.Fatalf("after disconnect twin %v", tw)
	}
}

func TestConcurrentWritersOneDevice(t *testing.T) {
	ctx := context.Background()
	h, rec := newRecordedHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := h.UpdateTwin(ctx, "d1", "", []byte(fmt.Sprintf(`{"properties":{"desired":{"k%d":%d}}}`, i, i)), "", false); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := h.PatchReported(ctx, "d1", "", []byte(fmt.Sprintf(`{"r%d":%d}`, i, i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tw, _ := h.GetTwin(ctx, "d1", "")
	props := tw["properties"].(map[string]any)
	if props["desired"].(map[string]any)["$version"] != float64(n+1) || props["reported"].(map[string]any)["$version"] != float64(n+1) {
		t.Fatalf("versions after %d concurrent writes: %v", n, props)
	}
	// Notifications left in version order.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, s := range rec.desired {
		if want := fmt.Sprintf("d1 v%d ", i+2); len(s) < len(want) || s[:len(want)] != want {
			t.Fatalf("notification %d = %q", i, s)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenRequiresItsDependencies(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without a store succeeded")
	}
	st := store.OpenMemory()
	tl, err := d2c.Open(d2c.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	for name, opts := range map[string]Options{
		"no telemetry log": {Store: st, Devices: &recorder{}},
		"no device link":   {Store: st, Telemetry: tl},
	} {
		if h, err := Open(opts); err == nil {
			h.Close()
			t.Errorf("Open with %s succeeded", name)
		}
	}
}

// TestMemoryStoreTakesTheSamePath checks that a hub on the in-memory store
// persists what a hub on a file does, and refuses writes the same way once
// its store is gone.
func TestMemoryStoreTakesTheSamePath(t *testing.T) {
	ctx := context.Background()
	st := store.OpenMemory()
	h, err := open(t, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{store.Devices, store.Twins} {
		if v, err := st.Get(b, "d1"); err != nil || v == nil {
			t.Fatalf("%s/d1 in the memory store: %q, %v", b, v, err)
		}
	}
	st.Close()
	_, err = h.PutDevice(ctx, "d2", []byte(`{}`), "")
	wantCode(t, err, errcode.ServiceUnavailable)
	if _, err := h.GetDevice(ctx, "d2"); err == nil {
		t.Fatal("a write the store refused was published")
	}
}

// TestActivityStoredOnClose: reported properties and telemetry move an
// identity's lastActivityTime in memory only; a clean stop stores it.
func TestActivityStoredOnClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	h, st := openHub(t, path)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(ctx, "d2", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PatchReported(ctx, "d1", "", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.ReceiveTelemetry(ctx, "d2", "", Telemetry{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, id := range []string{"d1", "d2"} {
		d, err := h.GetDevice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.LastActivityTime == "0001-01-01T00:00:00Z" || d.LastActivityTime == "" {
			t.Fatalf("%s shows no activity: %q", id, d.LastActivityTime)
		}
		want[id] = d.LastActivityTime
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	h2, _ := openHub(t, path)
	for id, w := range want {
		d, err := h2.GetDevice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.LastActivityTime != w {
			t.Errorf("%s after a restart: lastActivityTime %s, want %s", id, d.LastActivityTime, w)
		}
	}
}
