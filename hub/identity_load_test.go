package hub

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// recordCorpus is identity records as the hub writes them, and odd ones.
func recordCorpus(t *testing.T, h *Hub) (written, odd [][]byte) {
	ctx := context.Background()
	must := func(_ any, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.PutDevice(ctx, "plain", []byte(`{}`), ""))
	must(h.PutDevice(ctx, "rich", []byte(`{"status":"disabled","statusReason":"maint\u00e9nance \"now\"","capabilities":{"iotEdge":true}}`), ""))
	must(h.PutDevice(ctx, "x509", []byte(`{"authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AB","secondaryThumbprint":null}}}`), ""))
	must(h.PutDevice(ctx, "ca", []byte(`{"authentication":{"type":"certificateAuthority"}}`), ""))
	must(h.PutDevice(ctx, "child", []byte(`{"parentScopes":["edge-scope"],"deviceScope":"edge-scope"}`), ""))
	must(h.PutModule(ctx, "rich", "m1", []byte(`{"managedBy":"me"}`), ""))
	must(nil, h.SetConfigurations(ctx, "plain", "", map[string]string{"cfg1": "Applied", "cfg_2:x": "Targeted"}))
	h.SetConnected(ctx, "x509", "", true, "dtmi:com:example:Thermostat;1")
	for _, key := range []string{"plain", "rich", "x509", "ca", "child", "rich/m1", "rich/$edgeAgent"} {
		e := h.get(key)
		if e == nil {
			continue
		}
		_, rec, err := e.record()
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, rec)
	}
	if len(written) < 6 {
		t.Fatalf("only %d records", len(written))
	}
	r := string(written[1])
	odd = [][]byte{
		[]byte(strings.Replace(r, `"etagSeq"`, `"ETagSeq"`, 1)),
		[]byte(strings.Replace(r, `{"device":`, `{"x":1,"device":`, 1)),
		[]byte(strings.Replace(r, `"status":`, `"status":"enabled","status":`, 1)),
		[]byte(strings.Replace(r, `"symmetricKey":{`, `"symmetricKey":null,"x":{`, 1)),
		[]byte(strings.Replace(string(written[0]), `"symmetricKey":{`, `"symmetricKey":{"primaryKey":null,"secondaryKey":""},"y":{`, 1)),
		[]byte(strings.Replace(r, `"cloudToDeviceMessageCount":0`, `"cloudToDeviceMessageCount":1.5`, 1)),
		[]byte(r + "x"), []byte(r + "\x00"), []byte(r[:len(r)/2]), []byte(`{}`), []byte(`null`), []byte(`{"device":null}`),
	}
	return written, odd
}

func sameRecord(t *testing.T, b []byte) {
	t.Helper()
	got, ok := scanRecord(b)
	var want storedRecord
	wantErr := json.Unmarshal(b, &want)
	if !ok {
		return // encoding/json reads it, or refuses it
	}
	if wantErr != nil {
		t.Fatalf("scanRecord read what encoding/json refuses (%v):\n%s", wantErr, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanRecord and encoding/json differ:\n%+v\n%+v\n%s", got, want, b)
	}
}

func TestScanRecordMatchesEncodingJSON(t *testing.T) {
	written, odd := recordCorpus(t, newHub(t))
	for _, b := range written {
		if _, ok := scanRecord(b); !ok {
			t.Errorf("a record the hub writes is not scanned:\n%s", b)
		}
		sameRecord(t, b)
	}
	for _, b := range odd {
		sameRecord(t, b)
	}
}

func FuzzScanRecord(f *testing.F) {
	reason := "why"
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	dev := newIdentity("d1", "", now)
	dev.status, dev.statusReason, dev.statusUpdated = "disabled", &reason, now
	dev.auth = registry.Authentication{Type: "sas", SymmetricKey: &registry.SymmetricKey{PrimaryKey: "a", SecondaryKey: "b"}}
	dev.parentScopes, dev.configurations = []string{"s"}, map[string]string{"c": "Applied"}
	mod := newIdentity("d1", "m1", now)
	mod.managedBy, mod.auth = "me", registry.Authentication{Type: "none"}
	for _, id := range []identity{dev, mod} {
		_, b, err := id.record()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append(b[:len(b)-1:len(b)-1], []byte(`,"x":1}`)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameRecord(t, b) })
}

// TestRecordMatchesEncodingJSON: record writes by hand what encoding/json
// writes of the record types, for every identity of the corpus.
func TestRecordMatchesEncodingJSON(t *testing.T) {
	h := newHub(t)
	recordCorpus(t, h)
	for key, e := range h.entries {
		_, got, err := e.record()
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		if e.kind == moduleKind {
			want, err = json.Marshal(moduleRecord{Module: e.toModule(), ETagSeq: e.etagSeq, ModelID: e.modelID, Configurations: e.configurations})
		} else {
			want, err = json.Marshal(deviceRecord{Device: e.toDevice(), ETagSeq: e.etagSeq, ModelID: e.modelID, Configurations: e.configurations})
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", key, got, want)
		}
	}
}
