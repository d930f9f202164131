package seed

import (
	"context"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"reflect"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Fixed keys for tests: base64 of 32 bytes each.
const (
	keyA = "0dUkJoejNca0QvLyIJeIbdM6z37FTeBRDGk33VKhTsc="
	keyB = "DzTshA0S3zT5LFHGwvqWUHAZEz07VGqHCOSY4lJBH0s="
	keyC = "rDUxsbGaRm8rfVLjg0M/EHIvGSi5WvNT9Fzbgg+dg2Y="
	keyD = "sp/wutB4ZS/Qsg3zRY7qX4uVh2wS+sITmOsyiJKXd/Y="
)

// newHub opens a hub on a store in a temporary folder and checks the
// store's consistency when the test ends.
func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	return newHubOn(t, storetest.Temp(t), nil)
}

// newHubOn opens a hub on st (from storetest) notifying devices (nil: a
// fresh recorder).
func newHubOn(t testing.TB, st *store.File, devices *hubtest.Devices) *hub.Hub {
	t.Helper()
	opts := hub.Options{Store: st}
	if devices != nil {
		opts.Devices = devices
	}
	return hubtest.Open(t, opts)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustParse(t *testing.T, text, format string) *Document {
	t.Helper()
	d, err := Parse([]byte(text), format)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func mustApply(t *testing.T, h *hub.Hub, d *Document) Result {
	t.Helper()
	res, err := Apply(testContext(t), h, d)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func mustExport(t *testing.T, h *hub.Hub) *Document {
	t.Helper()
	d, err := Export(testContext(t), h)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return d
}

// sameDocument fails the test with both documents as JSON when they differ.
func sameDocument(t *testing.T, got, want *Document) {
	t.Helper()
	got, want = withoutChecks(got), withoutChecks(want)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("documents differ\ngot:  %s\nwant: %s", g, w)
	}
}

// hubState is everything a seed document describes of a hub, read through
// the hub's own API rather than through Export, to check Export itself.
type hubState map[string]identityState

type identityState struct {
	Status, Auth, Primary, Secondary string
	Edge                             bool
	Tags, Desired, Reported          map[string]any
}

func readState(t *testing.T, h *hub.Hub) hubState {
	t.Helper()
	ctx := testContext(t)
	s := hubState{}
	read := func(key, deviceID, moduleID string, st identityState) {
		view, err := h.GetTwin(ctx, deviceID, moduleID)
		if err != nil {
			t.Fatal(err)
		}
		st.Tags, st.Desired, st.Reported = viewSections(view)
		s[key] = st
	}
	for _, id := range h.DeviceIDs() {
		d, err := h.GetDevice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		st := identityState{Status: d.Status, Auth: d.Authentication.Type, Edge: d.Capabilities.IotEdge}
		if k := d.Authentication.SymmetricKey; k != nil {
			st.Primary, st.Secondary = k.PrimaryKey, k.SecondaryKey
		}
		read(id, id, "", st)
		mods, err := h.ListModules(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mods {
			st := identityState{Auth: m.Authentication.Type}
			if k := m.Authentication.SymmetricKey; k != nil {
				st.Primary, st.Secondary = k.PrimaryKey, k.SecondaryKey
			}
			read(id+"/"+m.ModuleID, id, m.ModuleID, st)
		}
	}
	return s
}

// versions records every identity's etag and twin etag, to show what a
// write touched.
func versions(t *testing.T, h *hub.Hub) map[string]string {
	t.Helper()
	ctx := testContext(t)
	out := map[string]string{}
	for _, id := range h.DeviceIDs() {
		view, err := h.GetTwin(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		out[id] = view["deviceEtag"].(string) + " " + view["etag"].(string)
		mods, err := h.ListModules(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mods {
			view, err := h.GetTwin(ctx, id, m.ModuleID)
			if err != nil {
				t.Fatal(err)
			}
			out[id+"/"+m.ModuleID] = view["deviceEtag"].(string) + " " + view["etag"].(string)
		}
	}
	return out
}

// withoutChecks is d without the twins prepare keeps for apply: documents
// are compared as users see them.
func withoutChecks(d *Document) *Document {
	if d == nil {
		return nil
	}
	c := *d
	c.Devices = make([]Device, len(d.Devices))
	for i, dev := range d.Devices {
		dev.built, dev.parsed = nil, nil
		dev.Modules = append([]Module(nil), dev.Modules...)
		for j := range dev.Modules {
			m := &dev.Modules[j]
			m.built, m.parsed = nil, nil
		}
		if d.Devices[i].Modules == nil {
			dev.Modules = nil
		}
		c.Devices[i] = dev
	}
	if d.Devices == nil {
		c.Devices = nil
	}
	return &c
}
