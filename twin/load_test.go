package twin

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// loadCorpus is stored twins the fast path must read itself (fast) and odd
// documents it may hand to UnmarshalJSON.
func loadCorpus(t testing.TB) (fast, other [][]byte) {
	t.Helper()
	at := func(s int) time.Time { return time.Date(2026, 1, 2, 3, 4, s, 123456789, time.UTC) }
	store := func(tw *Twin) []byte {
		b, err := tw.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	service := func(tw *Twin, body string, now time.Time) *Twin {
		u, err := ParseServiceBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		next, _, err := tw.Patched(u, now)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	device := func(tw *Twin, body string, now time.Time) *Twin {
		next, err := tw.PatchedReported([]byte(body), now)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	fresh := New(at(0))
	used := service(fresh, `{"tags":{"location":{"region":"US","plant":"Plant1"},"floor":3,"e":{}},
		"properties":{"desired":{"interval":5,"thresholds":{"high":40.5,"low":-5},"list":[1,{"a":null},"x"],"o":{"p":{"q":{}}}}}}`, at(1))
	used = device(used, `{"temperature":21.5,"fw":"1.0","conn":{"type":"wifi","rssi":-40},"ok":true,"no":false}`, at(2))
	used = service(used, `{"properties":{"desired":{"thresholds":{"low":null},"mode":"eco"}}}`, at(3))
	escaped := service(fresh, `{"tags":{"u":"é\u0001\u2028<>&\"\\"},"properties":{"desired":{"s":"tab\there","big":4503599627370495.5,"tiny":5e-324}}}`, at(4))
	replaced := fresh.Clone()
	if _, err := replaced.Replace(ServiceUpdate{Desired: map[string]any{"a": map[string]any{"b": "c"}}, HasDesired: true}, at(5)); err != nil {
		t.Fatal(err)
	}
	fast = [][]byte{store(fresh), store(used), store(escaped), store(replaced), store(&Twin{})}

	valid := string(store(used))
	other = [][]byte{
		[]byte(strings.Replace(valid, `"version":`, `"Version":`, 1)),         // matched without case by encoding/json
		[]byte(strings.Replace(valid, `{"version":`, `{"x":1,"version":`, 1)), // unknown members are ignored
		[]byte(strings.Replace(valid, `"tags":{`, `"tags":{"floor":4,`, 1)),   // a duplicate: the last wins
		[]byte(strings.Replace(valid, `"temperature":21.5`, `"temperature":1e400`, 1)),
		[]byte(strings.Replace(valid, `"temperature":21.5`, `"temperature":null`, 1)),
		[]byte(strings.Replace(valid, `"fw":"1.0"`, `"f\u0077":"1.0"`, 1)),
		[]byte(strings.Replace(valid, `"$version":`, `"$other":1,"$version":`, 1)),
		[]byte(valid + " x"), []byte(valid + "\x00"),
		[]byte(valid[:len(valid)/2]),
		[]byte(`{}`), []byte(`null`), []byte(``),
	}
	// Values before $metadata: the order MarshalJSON never writes.
	var m map[string]any
	if err := json.Unmarshal([]byte(valid), &m); err != nil {
		t.Fatal(err)
	}
	rep := m["properties"].(map[string]any)["reported"].(map[string]any)
	meta := rep["$metadata"]
	delete(rep, "$metadata")
	b, _ := json.Marshal(m)
	mb, _ := json.Marshal(meta)
	other = append(other, []byte(strings.Replace(string(b), `"$version":2}}`, `"$version":2,"$metadata":`+string(mb)+`}}`, 1)))
	m["tags"] = nil // read as no tags
	b, _ = json.Marshal(m)
	other = append(other, b)
	return fast, other
}

func sameLoad(t *testing.T, data []byte) {
	t.Helper()
	var l Loader
	got, gotErr := l.Load(data)
	want := new(Twin)
	wantErr := want.UnmarshalJSON(data)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("Load error %v, UnmarshalJSON error %v\n%s", gotErr, wantErr, data)
	}
	if wantErr != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := got.MarshalJSON()
		t.Fatalf("Load and UnmarshalJSON differ:\n%s\n%s", gb, data)
	}
	// What MarshalJSON writes of it reads back as the same twin.
	again, err := want.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := l.Load(again)
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("the stored form does not read back (%v):\n%s\n%s", err, again, data)
	}
}

func TestLoaderMatchesUnmarshalJSON(t *testing.T) {
	fast, other := loadCorpus(t)
	for i, b := range fast {
		var l Loader
		if _, ok := l.load(b); !ok {
			t.Errorf("stored twin %d is not read by the fast path:\n%s", i, b)
		}
		sameLoad(t, b)
	}
	for _, b := range other {
		sameLoad(t, b)
	}
}

func TestLoaderReusesScratchAcrossTwins(t *testing.T) {
	fast, _ := loadCorpus(t)
	var l Loader
	for round := range 3 {
		for i, b := range fast {
			got, err := l.Load(b)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := got.MarshalJSON()
			if string(again) != string(b) {
				t.Fatalf("round %d twin %d reads back differently:\n%s\n%s", round, i, b, again)
			}
		}
	}
}

func FuzzLoader(f *testing.F) {
	fast, other := loadCorpus(f)
	for _, b := range append(fast, other...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameLoad(t, data) })
}

// TestLoaderSharesShortStrings: twins one Loader reads share the bytes of
// their short string values; long ones and escaped ones are their own.
func TestLoaderSharesShortStrings(t *testing.T) {
	long := strings.Repeat("v", maxInternedLen+1)
	var l Loader
	var tags []map[string]any
	for i := range 2 {
		tw := New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		// n differs, so that the tags objects themselves are not shared.
		u, err := NewServiceUpdate(map[string]any{"mode": "normal", "long": long, "esc": "a\nb", "n": float64(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Replace(u, time.Now()); err != nil {
			t.Fatal(err)
		}
		b, _ := tw.MarshalJSON()
		got, err := l.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, got.SharedTags())
	}
	data := func(m map[string]any, k string) *byte { return unsafe.StringData(m[k].(string)) }
	if data(tags[0], "mode") != data(tags[1], "mode") {
		t.Error("two twins hold their own copies of a short value")
	}
	if data(tags[0], "long") == data(tags[1], "long") || data(tags[0], "esc") == data(tags[1], "esc") {
		t.Error("a long or escaped value is shared")
	}
	if tags[0]["esc"] != "a\nb" || tags[0]["long"] != long {
		t.Errorf("values read back as %q", tags[0])
	}
}

// TestLoaderSharesSmallObjects: twins whose stored tags hold the same small
// object share it; a tag write to one of them leaves the others as they
// were; a large object is each twin's own.
func TestLoaderSharesSmallObjects(t *testing.T) {
	big := map[string]any{}
	for i := range 40 {
		big[fmt.Sprintf("k%02d", i)] = "value"
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var l Loader
	var twins []*Twin
	for i := range 3 {
		tw := New(at)
		u, err := NewServiceUpdate(map[string]any{"location": map[string]any{"region": "EU", "plant": "P1"}, "big": big, "serial": float64(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Replace(u, at); err != nil {
			t.Fatal(err)
		}
		b, _ := tw.MarshalJSON()
		got, err := l.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		twins = append(twins, got)
	}
	sub := func(tw *Twin, k string) map[string]any { return tw.SharedTags()[k].(map[string]any) }
	same := func(a, b map[string]any) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	if !same(sub(twins[0], "location"), sub(twins[1], "location")) {
		t.Error("two twins hold their own copies of the same small object")
	}
	if same(sub(twins[0], "big"), sub(twins[1], "big")) {
		t.Error("a large object is shared")
	}
	if same(twins[0].SharedTags(), twins[1].SharedTags()) {
		t.Error("tags that differ are shared")
	}
	// A tag write, merged or replacing, changes that twin alone.
	u, err := NewServiceUpdate(map[string]any{"location": map[string]any{"region": "US", "plant": nil}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := twins[0].Patch(u, at); err != nil {
		t.Fatal(err)
	}
	if _, err := twins[1].Replace(u, at); err != nil {
		t.Fatal(err)
	}
	if got := sub(twins[0], "location"); !reflect.DeepEqual(got, map[string]any{"region": "US"}) {
		t.Errorf("patched twin's location = %v", got)
	}
	if got := sub(twins[2], "location"); !reflect.DeepEqual(got, map[string]any{"region": "EU", "plant": "P1"}) {
		t.Errorf("a write to other twins changed this one's location to %v", got)
	}
}

// BenchmarkLoad decodes a fleet twin's stored form with one Loader, as a
// start does for every twin.
func BenchmarkLoad(b *testing.B) {
	data, err := fleetTwin(b).MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	var l Loader
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Load(data); err != nil {
			b.Fatal(err)
		}
	}
}
