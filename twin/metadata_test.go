package twin_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

func desiredMeta(tw *twin.Twin) any { return tw.Properties()["desired"].(map[string]any)["$metadata"] }
func reportedMeta(tw *twin.Twin) any {
	return tw.Properties()["reported"].(map[string]any)["$metadata"]
}

// The metadata of desired properties after each step of one history.
func TestDesiredMetadata(t *testing.T) {
	tw := twin.New(at(0))
	steps := []struct {
		name, body string
		want       string // $metadata, with Tn standing for stampAt(n)
	}{
		{"fresh twin", "", `{"$lastUpdated":"T0"}`},
		{"write stamps every new node and the root", `{"a":{"b":1,"c":{"d":2}},"e":"x"}`, `{
			"$lastUpdated":"T1","$lastUpdatedVersion":2,
			"a":{"$lastUpdated":"T1","$lastUpdatedVersion":2,
				"b":{"$lastUpdated":"T1","$lastUpdatedVersion":2},
				"c":{"$lastUpdated":"T1","$lastUpdatedVersion":2,"d":{"$lastUpdated":"T1","$lastUpdatedVersion":2}}},
			"e":{"$lastUpdated":"T1","$lastUpdatedVersion":2}}`},
		{"a leaf write stamps the leaf and its ancestors only", `{"a":{"c":{"d":3}}}`, `{
			"$lastUpdated":"T2","$lastUpdatedVersion":3,
			"a":{"$lastUpdated":"T2","$lastUpdatedVersion":3,
				"b":{"$lastUpdated":"T1","$lastUpdatedVersion":2},
				"c":{"$lastUpdated":"T2","$lastUpdatedVersion":3,"d":{"$lastUpdated":"T2","$lastUpdatedVersion":3}}},
			"e":{"$lastUpdated":"T1","$lastUpdatedVersion":2}}`},
		{"a deletion stamps the parent and drops the metadata", `{"a":{"c":null}}`, `{
			"$lastUpdated":"T3","$lastUpdatedVersion":4,
			"a":{"$lastUpdated":"T3","$lastUpdatedVersion":4,
				"b":{"$lastUpdated":"T1","$lastUpdatedVersion":2}},
			"e":{"$lastUpdated":"T1","$lastUpdatedVersion":2}}`},
		{"rewriting a value stamps it even if equal", `{"e":"x"}`, `{
			"$lastUpdated":"T4","$lastUpdatedVersion":5,
			"a":{"$lastUpdated":"T3","$lastUpdatedVersion":4,
				"b":{"$lastUpdated":"T1","$lastUpdatedVersion":2}},
			"e":{"$lastUpdated":"T4","$lastUpdatedVersion":5}}`},
		{"replacing an object by a scalar drops its children's metadata", `{"a":[1,{"x":2}]}`, `{
			"$lastUpdated":"T5","$lastUpdatedVersion":6,
			"a":{"$lastUpdated":"T5","$lastUpdatedVersion":6},
			"e":{"$lastUpdated":"T4","$lastUpdatedVersion":5}}`},
		{"a scalar replaced by an object gets fresh children", `{"e":{"f":{}}}`, `{
			"$lastUpdated":"T6","$lastUpdatedVersion":7,
			"a":{"$lastUpdated":"T5","$lastUpdatedVersion":6},
			"e":{"$lastUpdated":"T6","$lastUpdatedVersion":7,"f":{"$lastUpdated":"T6","$lastUpdatedVersion":7}}}`},
	}
	for i, s := range steps {
		if s.body != "" {
			patch(t, tw, `{"properties":{"desired":`+s.body+`}}`, at(i))
		}
		assertJSON(t, s.name, desiredMeta(tw), withStamps(s.want))
	}

	// Tags and reported writes leave desired metadata alone.
	before := desiredMeta(tw)
	patch(t, tw, `{"tags":{"t":1}}`, at(20))
	report(t, tw, `{"r":1}`, at(21))
	assertJSON(t, "after tags and reported writes", desiredMeta(tw), mustJSON(t, before))
}

func TestReportedMetadata(t *testing.T) {
	tw := twin.New(at(0))
	report(t, tw, `{"a":{"b":1,"c":2}}`, at(1))
	report(t, tw, `{"a":{"c":null},"d":true}`, at(2))
	assertJSON(t, "reported $metadata", reportedMeta(tw), withStamps(`{
		"$lastUpdated":"T2",
		"a":{"$lastUpdated":"T2","b":{"$lastUpdated":"T1"}},
		"d":{"$lastUpdated":"T2"}}`))
	// A desired write leaves reported metadata alone.
	patch(t, tw, `{"properties":{"desired":{"x":1}}}`, at(3))
	assertJSON(t, "reported after a desired write", reportedMeta(tw), withStamps(`{
		"$lastUpdated":"T2",
		"a":{"$lastUpdated":"T2","b":{"$lastUpdated":"T1"}},
		"d":{"$lastUpdated":"T2"}}`))
}

func TestTagsHaveNoMetadata(t *testing.T) {
	tw := twin.New(at(0))
	patch(t, tw, `{"tags":{"a":{"b":1}}}`, at(1))
	assertJSON(t, "tags", tw.Tags(), `{"a":{"b":1}}`)
	assertJSON(t, "desired $metadata", desiredMeta(tw), withStamps(`{"$lastUpdated":"T0"}`))
}

func TestTimestampFormat(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{"7 digits", time.Date(2023, 2, 21, 10, 40, 10, 506240200, time.UTC), "2023-02-21T10:40:10.5062402Z"},
		{"truncated, not rounded, to 100ns", time.Date(2023, 2, 21, 10, 40, 10, 999999999, time.UTC), "2023-02-21T10:40:10.9999999Z"},
		{"zero fraction keeps its digits", time.Date(2023, 2, 21, 10, 40, 10, 0, time.UTC), "2023-02-21T10:40:10.0000000Z"},
		{"converted to UTC", time.Date(2023, 2, 21, 12, 40, 10, 100, time.FixedZone("CEST", 2*3600)), "2023-02-21T10:40:10.0000001Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := twin.New(tt.now)
			report(t, tw, `{"x":1}`, tt.now)
			m := reportedMeta(tw).(map[string]any)
			if got := m["$lastUpdated"]; got != tt.want {
				t.Errorf("root $lastUpdated = %v, want %s", got, tt.want)
			}
			if got := m["x"].(map[string]any)["$lastUpdated"]; got != tt.want {
				t.Errorf("leaf $lastUpdated = %v, want %s", got, tt.want)
			}
		})
	}
}

// withStamps replaces the placeholders Tn by stampAt(n), highest n first so
// that T1 does not eat the front of T10.
func withStamps(s string) string {
	for n := 30; n >= 0; n-- {
		s = strings.ReplaceAll(s, `"T`+strconv.Itoa(n)+`"`, `"`+stampAt(n)+`"`)
	}
	return s
}
