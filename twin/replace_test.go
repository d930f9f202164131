package twin_test

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

func TestReplace(t *testing.T) {
	start := `{"tags":{"site":{"hall":"b"},"n":1},"properties":{"desired":{"cfg":{"rate":5,"on":true},"list":[1,"a"]}}}`
	tests := []struct {
		name        string
		body        string
		wantTags    string
		wantDesired string
		wantChange  string // DesiredChange.Patch; "" when Changed must be false
	}{
		{"both sections replaced wholesale",
			`{"tags":{"n":2},"properties":{"desired":{"cfg":{"rate":6}}}}`,
			`{"n":2}`, `{"cfg":{"rate":6}}`,
			`{"cfg":{"rate":6,"on":null},"list":null,"$version":3}`},
		{"absent desired is kept",
			`{"tags":{"x":true}}`,
			`{"x":true}`, `{"cfg":{"rate":5,"on":true},"list":[1,"a"]}`, ""},
		{"absent tags are kept",
			`{"properties":{"desired":{"k":"v"}}}`,
			`{"site":{"hall":"b"},"n":1}`, `{"k":"v"}`,
			`{"k":"v","cfg":null,"list":null,"$version":3}`},
		{"a null section is absent",
			`{"tags":null,"properties":{"desired":{"n":2}}}`,
			`{"site":{"hall":"b"},"n":1}`, `{"n":2}`, `{"n":2,"cfg":null,"list":null,"$version":3}`},
		{"empty sections clear",
			`{"tags":{},"properties":{"desired":{}}}`,
			`{}`, `{}`,
			`{"cfg":null,"list":null,"$version":3}`},
		{"null members mean absent, at any depth but not in arrays",
			`{"tags":{"a":null,"b":{"c":null,"d":1}},"properties":{"desired":{"cfg":null,"x":{"y":null},"arr":[null]}}}`,
			`{"b":{"d":1}}`, `{"x":{},"arr":[null]}`,
			`{"x":{},"arr":[null],"cfg":null,"list":null,"$version":3}`},
		{"object replaced by scalar is not a removal",
			`{"properties":{"desired":{"cfg":1,"list":[1,"a"]}}}`,
			`{"site":{"hall":"b"},"n":1}`, `{"cfg":1,"list":[1,"a"]}`,
			`{"cfg":1,"list":[1,"a"],"$version":3}`},
		{"read-only members are ignored",
			`{"etag":"x","properties":{"desired":{"$metadata":{},"$version":99,"cfg":{"rate":5,"on":true}},"reported":{"z":1}}}`,
			`{"site":{"hall":"b"},"n":1}`, `{"cfg":{"rate":5,"on":true}}`,
			`{"cfg":{"rate":5,"on":true},"list":null,"$version":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := twin.New(at(0))
			patch(t, tw, start, at(1))
			report(t, tw, `{"r":1}`, at(2))
			reportedBefore := mustJSON(t, tw.Properties()["reported"])

			change := replace(t, tw, tt.body, at(3))
			assertJSON(t, "tags", tw.Tags(), tt.wantTags)
			assertJSON(t, "desired", content(tw.Properties()["desired"].(map[string]any)), tt.wantDesired)
			assertJSON(t, "reported", tw.Properties()["reported"], reportedBefore)
			if tt.wantChange == "" {
				if change.Changed || change.Patch != nil || change.Version != 0 {
					t.Errorf("change = %+v, want none", change)
				}
				if tw.DesiredVersion() != 2 {
					t.Errorf("desired $version = %d, want 2", tw.DesiredVersion())
				}
				return
			}
			if !change.Changed || change.Version != 3 || tw.DesiredVersion() != 3 {
				t.Errorf("change = %+v, DesiredVersion %d; want Changed at version 3", change, tw.DesiredVersion())
			}
			assertJSON(t, "change", change.Patch, tt.wantChange)
			if err := checkLimits(tw); err != nil {
				t.Error(err)
			}
		})
	}
}

// Every node of a replaced desired section carries the replacing write's
// timestamp and version, including values that did not change.
func TestReplaceStampsEveryNode(t *testing.T) {
	tw := twin.New(at(0))
	patch(t, tw, `{"properties":{"desired":{"keep":1,"obj":{"a":1}}}}`, at(1))
	replace(t, tw, `{"properties":{"desired":{"keep":1,"obj":{"b":2}}}}`, at(2))
	assertJSON(t, "desired $metadata", desiredMeta(tw), withStamps(`{
		"$lastUpdated":"T2","$lastUpdatedVersion":3,
		"keep":{"$lastUpdated":"T2","$lastUpdatedVersion":3},
		"obj":{"$lastUpdated":"T2","$lastUpdatedVersion":3,"b":{"$lastUpdated":"T2","$lastUpdatedVersion":3}}}`))
}

// The notification for a replace reports removals nested inside objects that
// survive, so a device applying it as a merge-patch ends in the new state.
func TestReplaceChangeAppliesAsMergePatch(t *testing.T) {
	tw := twin.New(at(0))
	patch(t, tw, `{"properties":{"desired":{"a":{"b":{"c":1,"d":2},"e":3},"f":4}}}`, at(1))
	device := twin.New(at(0))
	patch(t, device, `{"properties":{"desired":{"a":{"b":{"c":1,"d":2},"e":3},"f":4}}}`, at(1))

	change := replace(t, tw, `{"properties":{"desired":{"a":{"b":{"c":1}},"g":5}}}`, at(2))
	assertJSON(t, "change", change.Patch, `{"a":{"b":{"c":1,"d":null},"e":null},"f":null,"g":5,"$version":3}`)

	// Apply the notification as a patch; Patch ignores its read-only $version.
	body := map[string]any{}
	for k, v := range change.Patch {
		body[k] = v
	}
	if _, err := device.Patch(twin.ServiceUpdate{Desired: body, HasDesired: true}, at(2)); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, "device copy", content(device.Properties()["desired"].(map[string]any)),
		mustJSON(t, content(tw.Properties()["desired"].(map[string]any))))
}
