package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/store"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// The golden files of this test pin the on-disk format of identities and
// twins (testdata/store-v1.json, written by the hub as of its first
// release) and what a hub opened on such a data folder serves
// (testdata/loaded-v1.json). A data folder written by an earlier version
// must keep opening with every identity intact.

// storedBuckets are the buckets that hold identities and twins.
var storedBuckets = []string{store.Devices, store.Modules, store.Twins}

// writeIdentities builds a hub's worth of identities of every kind and shape
// on a manual clock: SAS and X.509 devices, a disabled one with a reason, an
// IoT Edge device with scopes, modules with and without managedBy, connected
// identities with model ids, twins with tags, desired and reported
// properties, and a pending cloud-to-device count.
func writeIdentities(t *testing.T, h *Hub, clock *testkit.Clock) {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const k1, k2 = "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=", "y/Zj70f+7jet605lDwhNIGB8soZa0ePIGld/jEjtp9s="
	sasBody := `{"authentication":{"type":"sas","symmetricKey":{"primaryKey":"` + k1 + `","secondaryKey":"` + k2 + `"}}}`
	must(h.PutDevice(ctx, "sensor-1", []byte(sasBody), ""))
	clock.Advance(1234567891 * time.Nanosecond) // sub-100 ns digits are dropped
	must(h.PutDevice(ctx, "cert-dev", []byte(`{"status":"disabled","statusReason":"retired","authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":"CD34"}}}`), ""))
	must(h.PutDevice(ctx, "edge-1", []byte(`{"capabilities":{"iotEdge":true},"deviceScope":"ms-azure-iot-edge://edge-1-1","parentScopes":["ms-azure-iot-edge://parent-2"],"authentication":{"type":"certificateAuthority"}}`), ""))
	// An IoT Edge device comes with $edgeAgent and $edgeHub; this rewrites the first.
	must(h.PutModule(ctx, "edge-1", "$edgeAgent", []byte(`{"managedBy":"IotEdge","authentication":{"type":"sas","symmetricKey":{"primaryKey":"`+k2+`","secondaryKey":"`+k1+`"}}}`), "*"))
	must(h.PutModule(ctx, "edge-1", "$edgeHub", []byte(sasBody), "*")) // fixed keys, for the golden file
	must(h.PutModule(ctx, "sensor-1", "mod-a", []byte(sasBody), ""))
	clock.Advance(2 * time.Second)
	// A status change stamps statusUpdatedTime.
	must(h.PutDevice(ctx, "sensor-1", []byte(`{"status":"disabled","statusReason":"maintenance",`+sasBody[1:]), "*"))
	must(h.PutDevice(ctx, "sensor-1", []byte(sasBody), "*"))
	h.setC2DCount("sensor-1", 2)
	clock.Advance(time.Second)
	h.SetConnected(ctx, "sensor-1", "", true, "dtmi:com:example:Thermostat;1")
	h.SetConnected(ctx, "sensor-1", "mod-a", true, "dtmi:com:example:Module;2")
	clock.Advance(time.Second)
	must(h.PatchReported(ctx, "sensor-1", "", []byte(`{"firmware":"1.2.3","net":{"rssi":-60}}`)))
	must(h.PatchReported(ctx, "sensor-1", "mod-a", []byte(`{"scanning":true}`)))
	must(h.UpdateTwin(ctx, "sensor-1", "", []byte(`{"tags":{"site":"north","floor":3},"properties":{"desired":{"interval":30,"led":{"on":true}}}}`), "", false))
	must(h.UpdateTwin(ctx, "edge-1", "$edgeAgent", []byte(`{"properties":{"desired":{"schemaVersion":"1.1"}}}`), "", true))
	clock.Advance(time.Second)
	h.SetConnected(ctx, "edge-1", "", true, "")
	h.SetConnected(ctx, "edge-1", "", false, "")
}

// dumpStore renders the identity and twin buckets as indented JSON.
func dumpStore(t *testing.T, st interface {
	ForEach(bucket string, fn func(key string, value []byte) error) error
}) []byte {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	for _, b := range storedBuckets {
		out[b] = map[string]json.RawMessage{}
		err := st.ForEach(b, func(key string, value []byte) error {
			out[b][key] = bytes.Clone(value)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return indentJSON(t, out)
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestStoredFormat checks that the hub writes identities and twins in the
// format of testdata/store-v1.json.
func TestStoredFormat(t *testing.T) {
	clock := testkit.NewClock()
	st, err := store.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := open(t, Options{Store: st, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	writeIdentities(t, h, clock)
	// Stopped cleanly, as the emulator stops it: the last activity that
	// reported properties moved in memory is stored too.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "store-v1.json", dumpStore(t, st))
}

// TestLoadsStoredFormat opens a hub on the records of testdata/store-v1.json
// and checks every identity and twin it serves against
// testdata/loaded-v1.json: nothing is lost, connections start Disconnected,
// and new etags continue after the stored ones.
func TestLoadsStoredFormat(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "store-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var records map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &records); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ops []store.Op
	for _, b := range storedBuckets {
		for key, value := range records[b] {
			var compact bytes.Buffer
			if err := json.Compact(&compact, value); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, store.Op{Bucket: b, Key: key, Value: compact.Bytes()})
		}
	}
	if err := st.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClockAt(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	h, err := open(t, Options{Store: st, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	type identityView struct {
		Identity any `json:"identity"`
		Twin     any `json:"twin"`
	}
	got := map[string]any{}
	devices := map[string]identityView{}
	modules := map[string]identityView{}
	for _, id := range h.DeviceIDs() {
		d, err := h.GetDevice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tw, err := h.GetTwin(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		devices[id] = identityView{d, tw}
		mods, err := h.ListModules(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mods {
			got, err := h.GetModule(ctx, id, m.ModuleID)
			if err != nil {
				t.Fatal(err)
			}
			tw, err := h.GetTwin(ctx, id, m.ModuleID)
			if err != nil {
				t.Fatal(err)
			}
			modules[identityKey(id, m.ModuleID)] = identityView{got, tw}
		}
	}
	got["devices"], got["modules"] = devices, modules
	got["list"] = h.ListDevices(ctx, 0)
	rs, ss := h.Statistics()
	got["statistics"] = []any{rs, ss}
	next, err := h.PutDevice(ctx, "after-load", []byte(`{}`), "")
	if err != nil {
		t.Fatal(err)
	}
	got["nextETag"] = next.ETag
	testkit.Golden(t, "loaded-v1.json", indentJSON(t, got))
}

// TestLoadRefusesBrokenIdentityRecords checks that a record the hub cannot
// read stops Open with a message naming it, instead of serving a damaged
// identity.
func TestLoadRefusesBrokenIdentityRecords(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, bucket, key, value, want string
	}{
		{"not JSON", store.Devices, "d1", `{`, `load devices: device "d1": unexpected end of JSON input`},
		{"a module record in the devices bucket", store.Devices, "d1", `{"module":{"deviceId":"d1","moduleId":"m1"}}`, `device "d1": the record has no device`},
		{"a time that is not one", store.Modules, "d1/m1", `{"module":{"deviceId":"d1","moduleId":"m1","lastActivityTime":"yesterday"}}`, `module "d1/m1": lastActivityTime: parsing time`},
	}
	tw, err := json.Marshal(twin.New(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "hub.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.Apply(ctx,
				store.Op{Bucket: tc.bucket, Key: tc.key, Value: []byte(tc.value)},
				store.Op{Bucket: store.Twins, Key: tc.key, Value: tw})
			if err != nil {
				t.Fatal(err)
			}
			_, err = open(t, Options{Store: st})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
