package twin_test

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

func TestDesiredChangeOfPatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // DesiredChange.Patch; "" means no desired change
	}{
		{"tags only", `{"tags":{"a":1}}`, ""},
		{"simple", `{"properties":{"desired":{"rate":5}}}`, `{"rate":5,"$version":2}`},
		{"nulls kept to signal deletion", `{"properties":{"desired":{"old":null,"o":{"x":null,"y":1}}}}`,
			`{"old":null,"o":{"x":null,"y":1},"$version":2}`},
		{"read-only members stripped", `{"properties":{"desired":{"$metadata":{"$lastUpdated":"x"},"$version":77,"k":[1,null]}}}`,
			`{"k":[1,null],"$version":2}`},
		{"empty desired still notifies its version", `{"properties":{"desired":{}}}`, `{"$version":2}`},
		{"tags and desired together", `{"tags":{"t":1},"properties":{"desired":{"d":true}}}`, `{"d":true,"$version":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := twin.New(at(0))
			c := patch(t, tw, tt.body, at(1))
			if tt.want == "" {
				if c.Changed || c.Patch != nil || c.Version != 0 {
					t.Errorf("change = %+v, want none", c)
				}
				return
			}
			if !c.Changed || c.Version != 2 || c.Version != tw.DesiredVersion() {
				t.Errorf("change Changed=%v Version=%d, twin desired %d", c.Changed, c.Version, tw.DesiredVersion())
			}
			if v, ok := c.Patch["$version"].(float64); !ok || v != 2 {
				t.Errorf("$version in patch = %#v, want float64 2", c.Patch["$version"])
			}
			assertJSON(t, "patch", c.Patch, tt.want)
		})
	}
}

// The change and the update belong to the caller: mutating them afterwards
// must not reach into the twin.
func TestChangeAndUpdateDoNotAliasTheTwin(t *testing.T) {
	u := parse(t, `{"tags":{"t":{"x":1}},"properties":{"desired":{"o":{"k":"v"},"a":[1,{"b":2}]}}}`)
	tw := twin.New(at(0))
	c, err := tw.Patch(u, at(1))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tw)

	c.Patch["o"].(map[string]any)["k"] = "changed"
	c.Patch["a"].([]any)[1].(map[string]any)["b"] = "changed"
	c.Patch["new"] = 1
	u.Desired["o"].(map[string]any)["k"] = "changed"
	u.Desired["a"].([]any)[0] = "changed"
	u.Tags["t"].(map[string]any)["x"] = "changed"

	if after := snapshot(t, tw); after != before {
		t.Errorf("caller's maps are shared with the twin:\nbefore %s\nafter  %s", before, after)
	}
}

func TestServiceUpdateBuiltInGoIgnoresReadOnlyMembers(t *testing.T) {
	tw := twin.New(at(0))
	c, err := tw.Patch(twin.ServiceUpdate{
		Desired: map[string]any{"$version": 40.0, "$metadata": map[string]any{}, "k": "v"}, HasDesired: true,
		Tags: map[string]any{"t": true}, HasTags: true,
	}, at(1))
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, "change", c.Patch, `{"k":"v","$version":2}`)
	assertJSON(t, "tags", tw.Tags(), `{"t":true}`)

	// Tags have no read-only members, so a "$" key there is refused.
	before := snapshot(t, tw)
	if _, err := tw.Patch(twin.ServiceUpdate{Tags: map[string]any{"$foo": 1.0}, HasTags: true}, at(2)); err == nil {
		t.Error(`a "$" tag built in Go was accepted`)
	}
	if after := snapshot(t, tw); after != before {
		t.Errorf("refused patch changed the twin:\nbefore %s\nafter  %s", before, after)
	}
}

// The notification body keeps the service's key order at every level, with
// "$version" last: device code reads a patch's first key as its component
// (the Python PnP helper does). Keys only the hub adds (removals of a
// replace) follow in sorted order.
func TestDesiredChangeBodyKeepsKeyOrder(t *testing.T) {
	tests := []struct {
		name, start, body string
		replace           bool
		want              string
	}{
		{"patch", ``, `{"properties":{"desired":{"thermostat2":{"targetTemperature":30,"__t":"c"},"alpha":1,"mid":null}}}`, false,
			`{"thermostat2":{"targetTemperature":30,"__t":"c"},"alpha":1,"mid":null,"$version":2}`},
		{"desired before tags in the body", ``, `{"properties":{"desired":{"z":1,"a":2}},"tags":{"b":1}}`, false,
			`{"z":1,"a":2,"$version":2}`},
		{"read-only members dropped wherever they stood", ``, `{"properties":{"desired":{"$version":5,"zz":1,"$metadata":{},"aa":2}}}`, false,
			`{"zz":1,"aa":2,"$version":2}`},
		{"repeated key keeps its first place", ``, `{"properties":{"desired":{"b":1,"a":1,"b":3}}}`, false,
			`{"b":3,"a":1,"$version":2}`},
		{"replace lists removals after the body", `{"properties":{"desired":{"old2":1,"old1":1,"keep":{"x":1,"gone":2}}}}`,
			`{"properties":{"desired":{"keep":{"x":2},"new":1}}}`, true,
			`{"keep":{"x":2,"gone":null},"new":1,"old1":null,"old2":null,"$version":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := twin.New(at(0))
			if tt.start != "" {
				patch(t, tw, tt.start, at(1))
			}
			var c twin.DesiredChange
			if tt.replace {
				c = replace(t, tw, tt.body, at(2))
			} else {
				c = patch(t, tw, tt.body, at(2))
			}
			got, err := c.Body()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Body() = %s\nwant     %s", got, tt.want)
			}
		})
	}
}
