package twin_test

import (
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// bodySeeds are shared by the fuzz targets: valid patches, every kind of
// invalid input, and shapes near the limits.
func bodySeeds() []string {
	return []string{
		`{}`,
		`{"a":1}`,
		`{"cfg":{"rate":null,"on":false},"list":[1,{"x":null}],"new":{"deep":{"er":"s"}}}`,
		`{"fw":null,"state":{"temp":null}}`,
		`{"a.b":1}`, `{"$x":1}`, `{"":1}`, `{"a b":1}`, "{\"a\u0085\":1}",
		`{"i":4503599627370496}`, `{"i":4503599627370495}`, `{"f":1e400}`, `{"f":1e20}`, `{"f":-0}`,
		nest(10), nest(11), `{"a":[` + nest(10) + `]}`,
		`{"s":"` + strings.Repeat("x", 4097) + `"}`,
		sized(32768), sized(32769), sized(8193),
		`[]`, `null`, `"x"`, ``, `{`, `{"a":1}{}`, "\xff\xfe", `{"a":"\xff"}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]}`,
	}
}

func FuzzPatchReported(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tw := seeded(t)
		before := snapshot(t, tw)
		version, err := tw.PatchReported(body, at(30))
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("error is not ArgumentInvalid: %v", err)
			}
			if snapshot(t, tw) != before || version != 0 {
				t.Fatalf("rejected patch changed the twin or returned version %d", version)
			}
			return
		}
		if version != 3 || tw.ReportedVersion() != 3 || tw.Version() != 4 {
			t.Fatalf("versions after one accepted patch: returned %d reported %d twin %d", version, tw.ReportedVersion(), tw.Version())
		}
		if err := checkLimits(tw); err != nil {
			t.Fatalf("accepted patch broke a limit: %v", err)
		}
		roundTrip(t, tw)
	})
}

func FuzzServicePatch(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add([]byte(`{"properties":{"desired":` + s + `}}`))
		f.Add([]byte(`{"tags":` + s + `}`))
	}
	for _, s := range []string{
		`{"deviceId":"d","etag":"AAAAAAAAAAE=","tags":{"a":1},"properties":{"desired":{"$metadata":{},"$version":4,"b":2},"reported":{"$version":1}}}`,
		`{"tags":null,"properties":null}`, `{"properties":{"desired":[]}}`, `{"tags":"x"}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := twin.ParseServiceBody(body)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("parse error is not ArgumentInvalid: %v", err)
			}
			return
		}
		base := seeded(t)
		before := snapshot(t, base)
		for _, op := range []string{"patch", "replace"} {
			tw := base.Clone()
			var c twin.DesiredChange
			if op == "patch" {
				c, err = tw.Patch(u, at(30))
			} else {
				c, err = tw.Replace(u, at(30))
			}
			if err != nil {
				if !errcode.Is(err, errcode.ArgumentInvalid) {
					t.Fatalf("%s: error is not ArgumentInvalid: %v", op, err)
				}
				if snapshot(t, tw) != before {
					t.Fatalf("%s: rejected write changed the twin", op)
				}
				continue
			}
			if tw.Version() != base.Version()+1 {
				t.Fatalf("%s: version %d after one write on %d", op, tw.Version(), base.Version())
			}
			wantDesired := base.DesiredVersion()
			if u.HasDesired {
				wantDesired++
			}
			if tw.DesiredVersion() != wantDesired || c.Changed != u.HasDesired {
				t.Fatalf("%s: desired version %d (want %d), Changed %v", op, tw.DesiredVersion(), wantDesired, c.Changed)
			}
			if c.Changed && c.Patch["$version"] != float64(wantDesired) {
				t.Fatalf("%s: notification $version %v, want %d", op, c.Patch["$version"], wantDesired)
			}
			if err := checkLimits(tw); err != nil {
				t.Fatalf("%s: accepted write broke a limit: %v", op, err)
			}
			roundTrip(t, tw)
		}
		if snapshot(t, base) != before {
			t.Fatalf("writes to clones changed the original")
		}
	})
}

func FuzzUnmarshalJSON(f *testing.F) {
	f.Add([]byte(snapshot(f, twin.New(at(0)))))
	f.Add([]byte(snapshot(f, seeded(f))))
	f.Add([]byte(`{"version":1,"etag":"AAAAAAAAAAE=","properties":{"desired":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:10Z"},"$version":1,"a":{"b":[1]}},"reported":{"$metadata":{"$lastUpdated":"x"},"$version":1}}}`))
	f.Add([]byte(`{"version":1,"etag":"AAAAAAAAAAE=","properties":{"desired":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:10Z","a":{"$lastUpdated":"2023-02-21T10:40:10Z"}},"$version":1,"a":{"b":1}},"reported":{"$metadata":{"$lastUpdated":"2023-02-21T10:40:10Z"},"$version":1}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tw twin.Twin
		if err := tw.UnmarshalJSON(data); err != nil {
			return
		}
		roundTrip(t, &tw)
		// A loaded twin, however odd, takes writes without panicking.
		_ = tw.Tags()
		_ = tw.DeviceJSON()
		_, _ = tw.Clone().Patch(twin.ServiceUpdate{Desired: map[string]any{"a": map[string]any{"b": nil}}, HasDesired: true}, at(1))
		_, _ = tw.Clone().Replace(twin.ServiceUpdate{Desired: map[string]any{"z": 1.0}, HasDesired: true}, at(1))
		_, _ = tw.Clone().PatchReported([]byte(`{"a":{"b":{"c":1}}}`), at(1))
	})
}

// roundTrip checks that the storage form of tw reads back to the same form.
func roundTrip(t *testing.T, tw *twin.Twin) {
	t.Helper()
	b1 := snapshot(t, tw)
	var back twin.Twin
	if err := back.UnmarshalJSON([]byte(b1)); err != nil {
		t.Fatalf("stored form does not load: %v\n%s", err, short(b1))
	}
	if b2 := snapshot(t, &back); b2 != b1 {
		t.Fatalf("storage round trip differs:\n%s\n%s", short(b1), short(b2))
	}
}
