package twin_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// histories are the twins the golden files show.
func histories(t *testing.T) map[string]*twin.Twin {
	fresh := twin.New(at(0))

	used := twin.New(at(0))
	patch(t, used, `{"tags":{"location":{"region":"US","plant":"Redmond43"}},
		"properties":{"desired":{"telemetryConfig":{"sendFrequency":"5m","sizes":[1,2.5,null]},"mode":"eco"}}}`, at(1))
	report(t, used, `{"connectivity":{"type":"cellular"},"battery":87,"ok":true}`, at(2))
	patch(t, used, `{"properties":{"desired":{"mode":null,"telemetryConfig":{"sendFrequency":"1m"}}}}`, at(3))
	report(t, used, `{"connectivity":{"signal":-67.5}}`, at(4))

	return map[string]*twin.Twin{"fresh": fresh, "used": used}
}

func TestGoldenViews(t *testing.T) {
	for name, tw := range histories(t) {
		t.Run(name, func(t *testing.T) {
			testkit.Golden(t, name+"_properties.json", indent(t, tw.Properties()))
			testkit.Golden(t, name+"_device.json", append(tw.DeviceJSON(), '\n'))
			stored, err := tw.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, stored, "", "  "); err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, name+"_stored.json", append(pretty.Bytes(), '\n'))
		})
	}
}

// Shapes the SDKs depend on, checked independently of the golden files.
func TestViewShapes(t *testing.T) {
	tw := histories(t)["used"]

	var dev map[string]map[string]any
	if err := json.Unmarshal(tw.DeviceJSON(), &dev); err != nil {
		t.Fatalf("DeviceJSON is not a JSON object of objects: %v", err)
	}
	if len(dev) != 2 || dev["desired"] == nil || dev["reported"] == nil {
		t.Errorf("DeviceJSON top level = %v, want exactly desired and reported", keys(dev))
	}
	for sec, want := range map[string]float64{"desired": 3, "reported": 3} {
		if v, ok := dev[sec]["$version"].(float64); !ok || v != want {
			t.Errorf("DeviceJSON %s.$version = %v, want %v", sec, dev[sec]["$version"], want)
		}
		if _, has := dev[sec]["$metadata"]; has {
			t.Errorf("DeviceJSON %s carries $metadata", sec)
		}
	}

	props := tw.Properties()
	if len(props) != 2 {
		t.Errorf("Properties top level = %v, want desired and reported", keys(props))
	}
	for _, sec := range []string{"desired", "reported"} {
		m := props[sec].(map[string]any)
		if _, ok := m["$metadata"].(map[string]any); !ok {
			t.Errorf("Properties %s.$metadata missing", sec)
		}
		if _, ok := m["$version"].(float64); !ok {
			t.Errorf("Properties %s.$version is %T, want float64", sec, m["$version"])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTagsNeverNil(t *testing.T) {
	for name, tw := range map[string]*twin.Twin{"new": twin.New(at(0)), "zero": {}} {
		if tw.Tags() == nil {
			t.Errorf("%s: Tags() is nil", name)
		}
	}
	tw := twin.New(at(0))
	patch(t, tw, `{"tags":{"a":1}}`, at(1))
	patch(t, tw, `{"tags":{"a":null}}`, at(2))
	if got := tw.Tags(); got == nil || len(got) != 0 {
		t.Errorf("Tags() after deleting the last tag = %#v, want {}", got)
	}
}

// The zero Twin is usable: views work and writes create what they need.
func TestZeroTwin(t *testing.T) {
	var tw twin.Twin
	assertJSON(t, "device", tw.DeviceJSON(), `{"desired":{"$version":0},"reported":{"$version":0}}`)
	patch(t, &tw, `{"tags":{"t":1},"properties":{"desired":{"d":1}}}`, at(1))
	report(t, &tw, `{"r":1}`, at(2))
	assertJSON(t, "device", tw.DeviceJSON(), `{"desired":{"$version":1,"d":1},"reported":{"$version":1,"r":1}}`)
	if err := checkLimits(&tw); err != nil {
		t.Error(err)
	}
}

// Views are fresh copies: changing what they return changes nothing.
func TestViewsAreCopies(t *testing.T) {
	tw := histories(t)["used"]
	before := snapshot(t, tw)

	tags := tw.Tags()
	tags["location"].(map[string]any)["region"] = "EU"
	tags["new"] = 1
	props := tw.Properties()
	d := props["desired"].(map[string]any)
	d["telemetryConfig"].(map[string]any)["sizes"].([]any)[0] = "x"
	d["$metadata"].(map[string]any)["$lastUpdated"] = "x"
	d["$version"] = 99.0
	props["reported"].(map[string]any)["battery"] = 0.0

	if after := snapshot(t, tw); after != before {
		t.Errorf("views share memory with the twin:\nbefore %s\nafter  %s", before, after)
	}
}

// Clone is deep: writing the clone while other goroutines read the original
// is race-free and leaves the original as it was.
func TestCloneIsIndependent(t *testing.T) {
	orig := histories(t)["used"]
	before := snapshot(t, orig)

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_ = orig.Properties()
				_ = orig.Tags()
				_ = orig.DeviceJSON()
			}
		}()
	}
	clone := orig.Clone()
	for i := range 50 {
		if _, err := clone.Patch(parse(t, `{"tags":{"location":{"region":null}},"properties":{"desired":{"telemetryConfig":{"sizes":[9]}}}}`), at(i)); err != nil {
			t.Error(err)
		}
		if _, err := clone.PatchReported([]byte(`{"connectivity":{"type":"wifi"},"battery":null}`), at(i)); err != nil {
			t.Error(err)
		}
		if _, err := clone.Replace(parse(t, `{"tags":{"x":1}}`), at(i)); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()

	if after := snapshot(t, orig); after != before {
		t.Errorf("writes to the clone reached the original")
	}
	if snapshot(t, clone) == before {
		t.Errorf("clone did not change; the test proves nothing")
	}
}

func TestSameTagsHoldsUntilATagWrite(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tw := twin.New(now)
	tagged, _, err := tw.Patched(twin.ServiceUpdate{Tags: map[string]any{"plant": "north"}, HasTags: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	reported, err := tagged.PatchedReported([]byte(`{"fw":"1.2"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	desired, _, err := reported.Patched(twin.ServiceUpdate{Desired: map[string]any{"fw": "1.3"}, HasDesired: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	retagged, _, err := desired.Patched(twin.ServiceUpdate{Tags: map[string]any{"plant": "north"}, HasTags: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a, b *twin.Twin
		want bool
	}{
		{"a reported write", tagged, reported, true},
		{"a desired write", reported, desired, true},
		{"a clone", desired, desired.Clone(), true},
		{"a tag write, even of equal tags", desired, retagged, false},
		{"a tag write from a fresh twin", tw, tagged, false},
		{"no twin", tagged, nil, false},
	} {
		if got := c.a.SameTags(c.b); got != c.want {
			t.Errorf("%s: SameTags = %v, want %v", c.name, got, c.want)
		}
	}
}
