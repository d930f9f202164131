package twin

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// legacyStored is the storage form as encoding/json writes it from the
// service view's maps, which MarshalJSON wrote before it was written by
// hand; twins whose keys all sort after "$" encode the same byte for byte.
func legacyStored(t *Twin) ([]byte, error) {
	var s stored
	s.Version = t.version
	s.ETag = formatETag(t.etag)
	s.Tags = t.Tags()
	s.Properties.Desired = sectionView(t.desired, true)
	s.Properties.Reported = sectionView(t.reported, true)
	return json.Marshal(s)
}

// corpusTwins are the twins of loadCorpus's stored forms.
func corpusTwins(t *testing.T) []*Twin {
	t.Helper()
	fast, _ := loadCorpus(t)
	var twins []*Twin
	for _, b := range fast {
		tw, err := new(Loader).Load(b)
		if err != nil {
			t.Fatal(err)
		}
		twins = append(twins, tw)
	}
	return twins
}

func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	twins := corpusTwins(t)
	numbers := New(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	vals := map[string]any{}
	for i, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 4503599627370495, -5e-324, 1.5e-10, 2e-100} {
		vals[string(rune('a'+i))] = f
	}
	vals["s"] = "<tag> & \"quote\" \\ \u2028 \u00e9 \x01"
	vals["arr"] = []any{1.0, "x", nil, true, map[string]any{"z": 1.0, "a": []any{}}}
	next, _, err := numbers.Patched(ServiceUpdate{Tags: vals, HasTags: true, Desired: vals, HasDesired: true}, time.Date(2026, 5, 6, 7, 8, 10, 1234500, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	twins = append(twins, next)
	// Timestamps that differ from node to node, made without the encoder
	// (corpusTwins' stored forms are its output): a node's $lastUpdated
	// is its own, however many before it repeat another.
	at := func(s int) time.Time { return time.Date(2026, 5, 6, 7, 8, s, 0, time.UTC) }
	mixed := New(at(0))
	for i, body := range []string{`{"a":1,"o":{"x":1,"y":2}}`, `{"b":2,"o":{"y":3}}`, `{"c":{"d":{"e":4}},"a":5}`} {
		u, err := ParseServiceBody([]byte(`{"properties":{"desired":` + body + `}}`))
		if err != nil {
			t.Fatal(err)
		}
		if mixed, _, err = mixed.Patched(u, at(i+1)); err != nil {
			t.Fatal(err)
		}
		if mixed, err = mixed.PatchedReported([]byte(body), at(i+10)); err != nil {
			t.Fatal(err)
		}
	}
	twins = append(twins, mixed)
	for i, tw := range twins {
		got, err := tw.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := legacyStored(tw)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("twin %d:\n got %s\nwant %s", i, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("twin %d: not JSON: %s", i, got)
		}
	}
}

func TestAppendViewMatchesEncodingJSON(t *testing.T) {
	twins := corpusTwins(t)
	// Names that sort before and among "$metadata" and "$version".
	odd, err := Build(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC),
		map[string]any{"!a": 1.0, "#": map[string]any{"!": "x"}},
		map[string]any{"!": map[string]any{"#x": 1.0, "a": true}, "z": "<>"},
		map[string]any{"!r": 2.0, "#h": map[string]any{}, "a": nil})
	if err != nil {
		t.Fatal(err)
	}
	twins = append(twins, odd)
	for i, tw := range twins {
		want, _ := json.Marshal(tw.Properties())
		if got := tw.AppendProperties(nil); string(got) != string(want) {
			t.Errorf("twin %d properties:\n got %s\nwant %s", i, got, want)
		}
		want, _ = json.Marshal(tw.Tags())
		if got := tw.AppendTags(nil); string(got) != string(want) {
			t.Errorf("twin %d tags:\n got %s\nwant %s", i, got, want)
		}
	}
}

// fleetTwin is a twin of the scale benchmarks' fleet: tags, desired and
// reported properties, two levels deep.
func fleetTwin(b *testing.B) *Twin {
	b.Helper()
	tw, err := Build(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC),
		map[string]any{"location": map[string]any{"region": "US", "plant": "Plant7"}, "floor": 3.0, "owner": "ops-team"},
		map[string]any{"telemetryInterval": 17.0, "thresholds": map[string]any{"high": 40.5, "low": -5.0}, "mode": "normal"},
		map[string]any{"temperature": 23.45, "battery": 77.0, "fw": "1.2.1", "connectivity": map[string]any{"type": "wifi", "rssi": -61.0}})
	if err != nil {
		b.Fatal(err)
	}
	return tw
}

// BenchmarkAppendStored encodes a fleet twin, as every write of a twin
// does.
func BenchmarkAppendStored(b *testing.B) {
	tw := fleetTwin(b)
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = tw.AppendStored(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
