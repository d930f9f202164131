package hub

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/query"
)

// TestLookupMatchesTheView checks that queries, which read entries through
// Lookup, see exactly the service view GET /twins renders: every path into
// the view, and paths that are not there.
func TestLookupMatchesTheView(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.PutDevice(ctx, "plain", []byte(`{}`), ""))
	must(h.PutDevice(ctx, "rich", []byte(`{"status":"disabled","statusReason":"maintenance","capabilities":{"iotEdge":true}}`), ""))
	must(h.UpdateTwin(ctx, "rich", "", []byte(`{"tags":{"location":{"region":"EU","plant":"P1","empty":{}},"floor":3,"list":[1,{"a":2}]},
		"properties":{"desired":{"interval":5,"thresholds":{"high":40.5,"low":-5},"o":{"p":{"q":{}}}}}}`), "", false))
	must(h.PatchReported(ctx, "rich", "", []byte(`{"temperature":21.5,"fw":"1.0","ok":false,"conn":{"type":"wifi","rssi":-40},"arr":["x"]}`)))
	must(h.PutModule(ctx, "rich", "m1", []byte(`{"managedBy":"me"}`), ""))
	must(h.PatchReported(ctx, "rich", "m1", []byte(`{"n":null,"s":"v"}`)))
	must(nil, h.SetConfigurations(ctx, "rich", "", map[string]string{"cfg1": "Applied", "cfg2": "Targeted"}))

	absent := [][]string{
		{"nope"}, {"tags", "nope"}, {"tags", "location", "region", "x"}, {"tags", "list", "0"},
		{"properties", "other"}, {"properties", "desired", "nope"}, {"properties", "desired", "interval", "x"},
		{"properties", "desired", "$version", "x"}, {"properties", "reported", "$nope"},
		{"properties", "reported", "$metadata", "nope"}, {"deviceId", "x"}, {"configurations", "cfg3"},
	}
	for _, key := range []string{"plain", "rich", "rich/m1"} {
		e := h.get(key)
		view := query.MapDoc(twinView(e))
		var paths [][]string
		var walk func(prefix []string, m map[string]any)
		walk = func(prefix []string, m map[string]any) {
			for k, v := range m {
				p := append(append([]string(nil), prefix...), k)
				paths = append(paths, p)
				if sub, ok := v.(map[string]any); ok {
					walk(p, sub)
				}
			}
		}
		walk(nil, view)
		if len(paths) < 25 {
			t.Fatalf("%s: only %d paths in the view", key, len(paths))
		}
		wantJSON, _ := json.Marshal(twinView(e))
		if got := appendView(nil, e); string(got) != string(wantJSON) {
			t.Errorf("%s: appendView:\n got %s\nwant %s", key, got, wantJSON)
		}
		for _, p := range append(paths, absent...) {
			got, gotOK := e.Lookup(p)
			want, wantOK := view.Lookup(p)
			if gotOK != wantOK || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Lookup(%s) = %v, %v; the view has %v, %v", key, strings.Join(p, "."), got, gotOK, want, wantOK)
			}
		}
	}
}
