package twin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRestampIsBuildAtThatTime(t *testing.T) {
	early := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 3, 4, 5, 6, 7, 890123400, time.UTC)
	tags := map[string]any{"a": map[string]any{"b": 1.0}}
	desired := map[string]any{"x": "y", "o": map[string]any{"p": []any{1.0}}}
	reported := map[string]any{"r": map[string]any{"s": true}}
	for _, sections := range [][3]map[string]any{{nil, nil, nil}, {tags, nil, nil}, {nil, desired, reported}, {tags, desired, reported}} {
		got, err := Build(early, sections[0], sections[1], sections[2])
		if err != nil {
			t.Fatal(err)
		}
		want, err := Build(now, sections[0], sections[1], sections[2])
		if err != nil {
			t.Fatal(err)
		}
		if got.Restamp(now); !reflect.DeepEqual(got, want) {
			g, _ := got.MarshalJSON()
			w, _ := want.MarshalJSON()
			t.Errorf("restamped:\n%s\nbuilt at that time:\n%s", g, w)
		}
	}
	if _, err := Build(now, map[string]any{"$bad": 1.0}, nil, nil); err == nil {
		t.Error("Build took a tag named $bad")
	}
}

// composedBuild is what Build does, by the general steps: a service PUT of
// the tags and desired properties, then a reported patch, on a new twin.
func composedBuild(now time.Time, tags, desired, reported map[string]any) (*Twin, error) {
	t := New(now)
	if tags != nil || desired != nil {
		u, err := NewServiceUpdate(tags, desired)
		if err != nil {
			return nil, err
		}
		if t, _, err = t.Replaced(u, now); err != nil {
			return nil, err
		}
	}
	if len(reported) > 0 {
		var err error
		if t, err = t.PatchedReportedValues(reported, now); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// sameBuild checks that Build and composedBuild agree on these sections:
// the same twin, or the same error (sameMessage: the same message too,
// which only a section with at most one problem makes deterministic).
func sameBuild(t *testing.T, tags, desired, reported map[string]any, sameMessage bool) {
	t.Helper()
	now := time.Date(2026, 3, 4, 5, 6, 7, 890123400, time.UTC)
	before := fmt.Sprint(tags, desired, reported)
	got, gerr := Build(now, tags, desired, reported)
	want, werr := composedBuild(now, tags, desired, reported)
	if after := fmt.Sprint(tags, desired, reported); after != before {
		t.Fatalf("Build changed its sections: %s became %s", before, after)
	}
	if (gerr == nil) != (werr == nil) || sameMessage && fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("sections %s:\nBuild: %v\ncomposed: %v", before, gerr, werr)
	}
	if gerr != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := got.MarshalJSON()
		w, _ := want.MarshalJSON()
		t.Fatalf("sections %s:\nBuild: %s\ncomposed: %s", before, g, w)
	}
}

func TestBuildIsReplaceThenReportedPatch(t *testing.T) {
	deep := map[string]any{}
	for i, m := 0, deep; i < MaxDepth+1; i++ {
		next := map[string]any{}
		m["n"] = next
		m = next
	}
	long := strings.Repeat("x", MaxStringBytes+1)
	big := map[string]any{}
	for i := range 40 {
		big[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 1000)
	}
	obj := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	sections := []map[string]any{
		nil, {},
		obj("a", 1.0, "b", "text", "c", true, "d", nil),
		obj("o", obj("p", obj("q", json.Number("12.5")), "gone", nil), "arr", []any{nil, 1.0, obj("x", nil)}),
		obj("$metadata", obj("a", 1.0), "kept", 1.0), obj("$version", 4.0, "kept", 1.0),
		obj("bad.key", 1.0), obj("bad key", nil), obj("", 1.0), obj("$x", 1.0),
		obj("n", json.Number("1e400")), obj("n", 1e20), obj("n", math.NaN()),
		obj("s", long), obj("arr", []any{1.0, []any{long}}), obj("t", struct{}{}),
		deep, big,
	}
	for _, tags := range sections {
		for _, desired := range sections {
			for _, reported := range sections {
				sameBuild(t, tags, desired, reported, true)
			}
		}
	}
}

// FuzzBuild: Build agrees with the general steps on any sections decoded
// from JSON as a bulk load decodes them (numbers as json.Number).
func FuzzBuild(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`{"x":"y","n":null,"$version":3}`), []byte(`{"r":[1,null,{"s":null}]}`))
	f.Add([]byte(`{"a.b":1}`), []byte(`{}`), []byte(`{"r":1e999}`))
	f.Add([]byte(`null`), []byte(`{"o":{"p":{"q":{}}}}`), []byte(`{"$r":null}`))
	f.Fuzz(func(t *testing.T, tagsJSON, desiredJSON, reportedJSON []byte) {
		decode := func(b []byte) map[string]any {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var m map[string]any
			if d.Decode(&m) != nil {
				return nil
			}
			return m
		}
		sameBuild(t, decode(tagsJSON), decode(desiredJSON), decode(reportedJSON), false)
	})
}
