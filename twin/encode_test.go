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
