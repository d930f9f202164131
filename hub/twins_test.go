package hub

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// TestTwinWritesLeavePublishedEntriesAlone checks that a twin write, taken
// or refused, never changes an entry a reader already holds: readers use
// entries without locks, so writers must build new ones.
func TestTwinWritesLeavePublishedEntriesAlone(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutModule(ctx, "d1", "m1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	huge := `"` + strings.Repeat("x", 40*1024) + `"`
	writes := []struct {
		name   string
		module string
		write  func(moduleID string) error
		code   errcode.Code // 0: the write is accepted
	}{
		{"patch", "", func(m string) error {
			_, err := h.UpdateTwin(ctx, "d1", m, []byte(`{"tags":{"a":{"b":1}},"properties":{"desired":{"c":{"d":2}}}}`), "", false)
			return err
		}, 0},
		{"replace", "m1", func(m string) error {
			_, err := h.UpdateTwin(ctx, "d1", m, []byte(`{"tags":{"z":1},"properties":{"desired":{"y":2}}}`), "", true)
			return err
		}, 0},
		{"reported", "m1", func(m string) error {
			_, err := h.PatchReported(ctx, "d1", m, []byte(`{"e":{"f":3}}`))
			return err
		}, 0},
		{"desired over the limit", "", func(m string) error {
			_, err := h.UpdateTwin(ctx, "d1", m, []byte(`{"properties":{"desired":{"big":`+huge+`}}}`), "", false)
			return err
		}, errcode.ArgumentInvalid},
		{"reported over the limit", "m1", func(m string) error {
			_, err := h.PatchReported(ctx, "d1", m, []byte(`{"big":`+huge+`}`))
			return err
		}, errcode.ArgumentInvalid},
	}
	for _, w := range writes {
		key := identityKey("d1", w.module)
		held := h.get(key)
		twinBefore := mustJSON(t, held.twin)
		viewBefore := mustJSON(t, twinView(held))
		err := w.write(w.module)
		if w.code == 0 && err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if w.code != 0 {
			wantCode(t, err, w.code)
			if now := h.get(key); now != held {
				t.Fatalf("%s: a refused write published a new entry", w.name)
			}
		}
		if got := mustJSON(t, held.twin); got != twinBefore {
			t.Fatalf("%s changed the twin of a held entry:\n got %s\nwant %s", w.name, got, twinBefore)
		}
		if got := mustJSON(t, twinView(held)); got != viewBefore {
			t.Fatalf("%s changed the view of a held entry:\n got %s\nwant %s", w.name, got, viewBefore)
		}
	}
	// The accepted writes are all there.
	var tw map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, twinView(h.get("d1/m1")))), &tw); err != nil {
		t.Fatal(err)
	}
	if tw["tags"].(map[string]any)["z"] != 1.0 || tw["version"] != 3.0 {
		t.Fatalf("module twin after the writes = %v", tw)
	}
}
