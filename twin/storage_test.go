package twin_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

func TestStorageRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) *twin.Twin
	}{
		{"fresh", func(t *testing.T) *twin.Twin { return twin.New(at(0)) }},
		{"zero", func(t *testing.T) *twin.Twin { return &twin.Twin{} }},
		{"history", func(t *testing.T) *twin.Twin { return histories(t)["used"] }},
		{"odd values", func(t *testing.T) *twin.Twin {
			tw := twin.New(time.Date(2001, 2, 3, 4, 5, 6, 700, time.UTC))
			patch(t, tw, `{"tags":{"u":"é\u0001\u2028<>&","e":{},"arr":[[],{},null]},
				"properties":{"desired":{"f":0.1,"neg":-4503599627370496,"tiny":5e-324,"small":-1.2345e-300,"frac":4503599627370495.5,"o":{"p":{"q":{}}}}}}`, at(1))
			report(t, tw, `{"s":"`+strings.Repeat("x", 4096)+`","n":-0}`, at(2))
			return tw
		}},
		{"many writes", func(t *testing.T) *twin.Twin {
			tw := twin.New(at(0))
			for i := range 300 {
				report(t, tw, `{"i":1}`, at(i%60))
			}
			return tw
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.build(t)
			b1, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			var back twin.Twin
			if err := json.Unmarshal(b1, &back); err != nil {
				t.Fatalf("Unmarshal: %v\n%s", err, short(string(b1)))
			}
			b2, err := json.Marshal(&back)
			if err != nil {
				t.Fatal(err)
			}
			if string(b1) != string(b2) {
				t.Errorf("round trip differs:\nfirst  %s\nsecond %s", short(string(b1)), short(string(b2)))
			}
			if back.Version() != orig.Version() || back.ETag() != orig.ETag() ||
				back.DesiredVersion() != orig.DesiredVersion() || back.ReportedVersion() != orig.ReportedVersion() {
				t.Errorf("versions differ: got %d %s %d %d, want %d %s %d %d",
					back.Version(), back.ETag(), back.DesiredVersion(), back.ReportedVersion(),
					orig.Version(), orig.ETag(), orig.DesiredVersion(), orig.ReportedVersion())
			}
			assertJSON(t, "properties", back.Properties(), mustJSON(t, orig.Properties()))
			assertJSON(t, "device view", back.DeviceJSON(), string(orig.DeviceJSON()))

			// The loaded twin keeps working the same way as the original.
			_, e1 := orig.Patch(parse(t, `{"properties":{"desired":{"z":1}}}`), at(50))
			_, e2 := back.Patch(parse(t, `{"properties":{"desired":{"z":1}}}`), at(50))
			if e1 != nil || e2 != nil || snapshot(t, orig) != snapshot(t, &back) {
				t.Errorf("original and loaded twin diverge after the same write (%v, %v)", e1, e2)
			}
		})
	}
}

func TestStorageRejectsCorruptInput(t *testing.T) {
	valid := func() map[string]any {
		tw := twin.New(at(0))
		patch(t, tw, `{"tags":{"t":1},"properties":{"desired":{"a":{"b":1}}}}`, at(1))
		report(t, tw, `{"r":[1]}`, at(2))
		var m map[string]any
		if err := json.Unmarshal([]byte(snapshot(t, tw)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	desired := func(m map[string]any) map[string]any {
		return m["properties"].(map[string]any)["desired"].(map[string]any)
	}
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		raw    string // used instead of mutate when set
		frag   string
	}{
		// The base document loads: every other row fails because of its one change.
		{name: "unmodified", mutate: func(map[string]any) {}},
		{name: "not JSON", raw: `{`, frag: "decode"},
		{name: "not an object", raw: `[1]`, frag: "decode"},
		{name: "bad etag", mutate: func(m map[string]any) { m["etag"] = "nope" }, frag: "etag"},
		{name: "short etag", mutate: func(m map[string]any) { m["etag"] = "AAAA" }, frag: "etag"},
		{name: "fractional version", mutate: func(m map[string]any) { m["version"] = 1.5 }, frag: "decode"},
		{name: "no properties", mutate: func(m map[string]any) { delete(m, "properties") }, frag: "properties.desired is missing"},
		{name: "no $version", mutate: func(m map[string]any) { delete(desired(m), "$version") }, frag: "properties.desired.$version"},
		{name: "negative $version", mutate: func(m map[string]any) { desired(m)["$version"] = -1.0 }, frag: "non-negative integer"},
		{name: "no $metadata", mutate: func(m map[string]any) { delete(desired(m), "$metadata") }, frag: "$metadata is missing"},
		{name: "unknown $ member", mutate: func(m map[string]any) { desired(m)["$etag"] = "x" }, frag: "unexpected member"},
		{name: "property without metadata", mutate: func(m map[string]any) {
			delete(desired(m)["$metadata"].(map[string]any)["a"].(map[string]any), "b")
		}, frag: "properties.desired.a.b has no metadata"},
		{name: "metadata without $lastUpdated", mutate: func(m map[string]any) {
			delete(desired(m)["$metadata"].(map[string]any), "$lastUpdated")
		}, frag: "has no $lastUpdated"},
		{name: "bad timestamp", mutate: func(m map[string]any) {
			desired(m)["$metadata"].(map[string]any)["$lastUpdated"] = "yesterday"
		}, frag: "$lastUpdated"},
		{name: "bad $lastUpdatedVersion", mutate: func(m map[string]any) {
			desired(m)["$metadata"].(map[string]any)["$lastUpdatedVersion"] = "2"
		}, frag: "$lastUpdatedVersion"},
		{name: "stored null property", mutate: func(m map[string]any) { desired(m)["a"].(map[string]any)["b"] = nil }, frag: "is null"},
		{name: "stored null tag", mutate: func(m map[string]any) { m["tags"].(map[string]any)["t"] = nil }, frag: "tags.t is null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := valid()
				tt.mutate(m)
				data = []byte(mustJSON(t, m))
			}
			tw := histories(t)["used"]
			before := snapshot(t, tw)
			err := tw.UnmarshalJSON(data)
			if tt.frag == "" {
				if err != nil {
					t.Fatalf("valid document rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.frag) {
				t.Fatalf("Unmarshal error = %v, want one mentioning %q", err, tt.frag)
			}
			if snapshot(t, tw) != before {
				t.Errorf("failed Unmarshal changed the receiver")
			}
		})
	}
}

// Stored timestamps written with another precision or offset load, and are
// shown the way IoT Hub writes them.
func TestStorageAcceptsOtherTimestampPrecisions(t *testing.T) {
	data := `{"version":3,"etag":"AAAAAAAAAAM=","tags":{},"properties":{
		"desired":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:10Z","$lastUpdatedVersion":2,"a":{"$lastUpdated":"2023-02-21T10:40:10.5Z","$lastUpdatedVersion":2}},"$version":2,"a":1},
		"reported":{"$metadata":{"$lastUpdated":"2023-02-21T12:40:43.853991712+02:00"},"$version":1}}}`
	var tw twin.Twin
	if err := json.Unmarshal([]byte(data), &tw); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, "properties", tw.Properties(), `{
		"desired":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:10.0000000Z","$lastUpdatedVersion":2,
			"a":{"$lastUpdated":"2023-02-21T10:40:10.5000000Z","$lastUpdatedVersion":2}},"$version":2,"a":1},
		"reported":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:43.8539917Z"},"$version":1}}`)
}
