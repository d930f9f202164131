package digitaltwin

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// thermostatView is the service view of a temperature controller's twin:
// a root property, a writable root property acknowledged by the device, and
// a component with a desired and a reported property.
func thermostatView(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	err := json.Unmarshal([]byte(`{
	  "deviceId": "d1", "modelId": "dtmi:com:example:TemperatureController;1", "etag": "AAAA",
	  "properties": {
	    "desired": {
	      "interval": 5,
	      "thermostat1": {"__t": "c", "targetTemperature": 42},
	      "$metadata": {
	        "$lastUpdated": "2026-03-01T12:00:00Z",
	        "interval": {"$lastUpdated": "2026-03-01T12:00:01Z"},
	        "thermostat1": {"$lastUpdated": "2026-03-01T12:00:02Z",
	          "targetTemperature": {"$lastUpdated": "2026-03-01T12:00:02Z"}}
	      },
	      "$version": 3
	    },
	    "reported": {
	      "serialNumber": "SN1",
	      "interval": {"value": 5, "ac": 200, "av": 3, "ad": "done"},
	      "thermostat1": {"__t": "c", "maxTempSinceLastReboot": 30},
	      "$metadata": {
	        "$lastUpdated": "2026-03-01T12:00:03Z",
	        "serialNumber": {"$lastUpdated": "2026-03-01T12:00:03Z"},
	        "interval": {"$lastUpdated": "2026-03-01T12:00:04Z"},
	        "thermostat1": {"$lastUpdated": "2026-03-01T12:00:05Z",
	          "maxTempSinceLastReboot": {"$lastUpdated": "2026-03-01T12:00:05Z"}}
	      },
	      "$version": 7
	    }
	  }}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFromTwin(t *testing.T) {
	want := decode(t, `{
	  "$dtId": "d1",
	  "serialNumber": "SN1",
	  "interval": 5,
	  "thermostat1": {
	    "maxTempSinceLastReboot": 30,
	    "$metadata": {
	      "targetTemperature": {"desiredValue": 42, "desiredVersion": 3, "lastUpdateTime": "2026-03-01T12:00:02Z"},
	      "maxTempSinceLastReboot": {"lastUpdateTime": "2026-03-01T12:00:05Z"}
	    }
	  },
	  "$metadata": {
	    "$model": "dtmi:com:example:TemperatureController;1",
	    "serialNumber": {"lastUpdateTime": "2026-03-01T12:00:03Z"},
	    "interval": {"desiredValue": 5, "desiredVersion": 3, "ackCode": 200, "ackVersion": 3, "ackDescription": "done", "lastUpdateTime": "2026-03-01T12:00:04Z"}
	  }
	}`)
	view := thermostatView(t)
	before, _ := json.Marshal(view)
	got := FromTwin(view)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("digital twin:\n%s", g)
	}
	if after, _ := json.Marshal(view); string(after) != string(before) {
		t.Error("FromTwin modified the twin view")
	}
}

func TestFromTwinWithoutModelOrProperties(t *testing.T) {
	got := FromTwin(decode(t, `{"deviceId":"d2","modelId":"","properties":{"desired":{"$version":1},"reported":{"$version":1}}}`))
	want := map[string]any{"$dtId": "d2", "$metadata": map[string]any{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestDesiredPatch(t *testing.T) {
	tests := []struct {
		name, patch, want string
	}{
		{"add root property", `[{"op":"add","path":"/interval","value":10}]`, `{"interval":10}`},
		{"add new root property", `[{"op":"add","path":"/fresh","value":"x"}]`, `{"fresh":"x"}`},
		{"replace acknowledged property", `[{"op":"replace","path":"/interval","value":1}]`, `{"interval":1}`},
		{"replace reported-only property", `[{"op":"replace","path":"/serialNumber","value":"SN2"}]`, `{"serialNumber":"SN2"}`},
		{"remove root property", `[{"op":"remove","path":"/interval"}]`, `{"interval":null}`},
		{"add component property", `[{"op":"add","path":"/thermostat1/targetTemperature","value":21}]`,
			`{"thermostat1":{"__t":"c","targetTemperature":21}}`},
		{"remove component property", `[{"op":"remove","path":"/thermostat1/targetTemperature"}]`,
			`{"thermostat1":{"__t":"c","targetTemperature":null}}`},
		{"add new component", `[{"op":"add","path":"/thermostat2","value":{"targetTemperature":30,"$metadata":{}}}]`,
			`{"thermostat2":{"__t":"c","targetTemperature":30}}`},
		{"replace component drops old properties", `[{"op":"replace","path":"/thermostat1","value":{"other":1,"$metadata":{}}}]`,
			`{"thermostat1":{"__t":"c","other":1,"targetTemperature":null}}`},
		{"remove component", `[{"op":"remove","path":"/thermostat1"}]`, `{"thermostat1":null}`},
		{"nested value", `[{"op":"add","path":"/settings/a~1b/c~0d","value":true}]`, `{"settings":{"a/b":{"c~d":true}}}`},
		{"later op wins", `[{"op":"add","path":"/x","value":1},{"op":"add","path":"/x","value":2}]`, `{"x":2}`},
		{"two ops on one component", `[{"op":"add","path":"/thermostat1/a","value":1},{"op":"add","path":"/thermostat1/b","value":2}]`,
			`{"thermostat1":{"__t":"c","a":1,"b":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := ParsePatch([]byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			got, err := DesiredPatch(thermostatView(t), ops)
			if err != nil {
				t.Fatal(err)
			}
			if want := decode(t, tt.want); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("patch %s, want %s", g, tt.want)
			}
		})
	}
}

func TestPatchRefused(t *testing.T) {
	tests := []struct{ name, patch string }{
		{"not an array", `{"op":"add"}`},
		{"empty", `[]`},
		{"two documents", `[] []`},
		{"unsupported op", `[{"op":"move","from":"/a","path":"/b"}]`},
		{"test op", `[{"op":"test","path":"/a","value":1}]`},
		{"no op", `[{"path":"/a","value":1}]`},
		{"no path", `[{"op":"add","value":1}]`},
		{"root path", `[{"op":"add","path":"","value":1}]`},
		{"slash path", `[{"op":"add","path":"/","value":1}]`},
		{"relative path", `[{"op":"add","path":"a","value":1}]`},
		{"empty segment", `[{"op":"add","path":"/a//b","value":1}]`},
		{"bad escape", `[{"op":"add","path":"/a~2","value":1}]`},
		{"system property", `[{"op":"add","path":"/$metadata","value":{}}]`},
		{"marker", `[{"op":"add","path":"/thermostat1/__t","value":"x"}]`},
		{"add without value", `[{"op":"add","path":"/a"}]`},
		{"replace missing", `[{"op":"replace","path":"/missing","value":1}]`},
		{"remove missing", `[{"op":"remove","path":"/thermostat1/missing"}]`},
		{"component not an object", `[{"op":"replace","path":"/thermostat1","value":5}]`},
		{"system key in component", `[{"op":"add","path":"/thermostat3","value":{"$metadata":{},"$x":1}}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := ParsePatch([]byte(tt.patch))
			if err == nil {
				_, err = DesiredPatch(thermostatView(t), ops)
			}
			if !errors.Is(err, errcode.ArgumentInvalid) {
				t.Errorf("err = %v, want ArgumentInvalid", err)
			}
		})
	}
}

func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`[{"op":"add","path":"/thermostat1/targetTemperature","value":42}]`,
		`[{"op":"remove","path":"/interval"}]`,
		`[{"op":"replace","path":"/thermostat1","value":{"$metadata":{},"a":1}}]`,
		`[{"op":"add","path":"/a~1b/~0","value":[1,{"x":null}]}]`,
		`[]`, `{}`, `[{"op":"add"}]`,
	} {
		f.Add([]byte(s))
	}
	view := map[string]any{}
	if err := json.Unmarshal([]byte(`{"properties":{"desired":{"c":{"__t":"c","p":1},"r":2},"reported":{"c":{"__t":"c"},"s":{"value":1,"ac":200}}}}`), &view); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := ParsePatch(body)
		if err != nil {
			if !errors.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("ParsePatch error %v is not ArgumentInvalid", err)
			}
			return
		}
		patch, err := DesiredPatch(view, ops)
		if err != nil {
			if !errors.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("DesiredPatch error %v is not ArgumentInvalid", err)
			}
			return
		}
		if _, err := json.Marshal(patch); err != nil {
			t.Fatalf("patch is not JSON: %v", err)
		}
		for k := range patch {
			if k == "" || k[0] == '$' {
				t.Fatalf("patch writes system key %q", k)
			}
		}
	})
}
