package twin

import (
	"reflect"
	"testing"
	"time"
)

func TestRestampedIsBuildAtThatTime(t *testing.T) {
	early := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 3, 4, 5, 6, 7, 890123400, time.UTC)
	tags := map[string]any{"a": map[string]any{"b": 1.0}}
	desired := map[string]any{"x": "y", "o": map[string]any{"p": []any{1.0}}}
	reported := map[string]any{"r": map[string]any{"s": true}}
	for _, sections := range [][3]map[string]any{{nil, nil, nil}, {tags, nil, nil}, {nil, desired, reported}, {tags, desired, reported}} {
		ahead, err := Build(early, sections[0], sections[1], sections[2])
		if err != nil {
			t.Fatal(err)
		}
		want, err := Build(now, sections[0], sections[1], sections[2])
		if err != nil {
			t.Fatal(err)
		}
		before, _ := ahead.MarshalJSON()
		if got := ahead.Restamped(now); !reflect.DeepEqual(got, want) {
			g, _ := got.MarshalJSON()
			w, _ := want.MarshalJSON()
			t.Errorf("restamped:\n%s\nbuilt at that time:\n%s", g, w)
		}
		if after, _ := ahead.MarshalJSON(); string(after) != string(before) {
			t.Error("Restamped changed the twin it copied")
		}
	}
	if _, err := Build(now, map[string]any{"$bad": 1.0}, nil, nil); err == nil {
		t.Error("Build took a tag named $bad")
	}
}
