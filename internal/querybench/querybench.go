// Package querybench is what the query benchmarks of the query and hub
// packages share: the scale table's queries, the hand-written Go loops over
// decoded twins they are measured against, and the pairing that runs the
// two side by side.
package querybench

import (
	"slices"
	"sort"
	"testing"
	"time"
)

// The scale table's queries.
const (
	// TagEqualityQuery is a selective equality on a nested tag.
	TagEqualityQuery = "SELECT * FROM devices WHERE tags.location.plant = 'Plant42'"
	// ReportedRangeQuery is a range on a reported number.
	ReportedRangeQuery = "SELECT * FROM devices WHERE properties.reported.temperature > 30 AND properties.reported.temperature < 31"
	// GroupByQuery groups by a reported string with COUNT().
	GroupByQuery = "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw"
)

// TagEquality is TagEqualityQuery's rows, by hand.
func TagEquality(docs []map[string]any) []any {
	var out []any
	for _, d := range docs {
		tags, ok := d["tags"].(map[string]any)
		if !ok {
			continue
		}
		loc, ok := tags["location"].(map[string]any)
		if !ok {
			continue
		}
		if p, ok := loc["plant"].(string); ok && p == "Plant42" {
			out = append(out, d)
		}
	}
	return out
}

// ReportedRange is ReportedRangeQuery's rows, by hand.
func ReportedRange(docs []map[string]any) []any {
	var out []any
	for _, d := range docs {
		props, ok := d["properties"].(map[string]any)
		if !ok {
			continue
		}
		rep, ok := props["reported"].(map[string]any)
		if !ok {
			continue
		}
		if t, ok := rep["temperature"].(float64); ok && t > 30 && t < 31 {
			out = append(out, d)
		}
	}
	return out
}

// GroupBy is GroupByQuery's rows, by hand, in the query's order: the group
// without a firmware first, then the versions as strings in order.
func GroupBy(docs []map[string]any) []any {
	counts := map[string]int{}
	missing := 0
	for _, d := range docs {
		props, _ := d["properties"].(map[string]any)
		rep, _ := props["reported"].(map[string]any)
		if fw, ok := rep["fw"].(string); ok {
			counts[fw]++
		} else {
			missing++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []any
	if missing > 0 {
		out = append(out, map[string]any{"n": float64(missing)})
	}
	for _, k := range keys {
		out = append(out, map[string]any{"fw": k, "n": float64(counts[k])})
	}
	return out
}

// Paired runs run and baseline b.N times each, first one then the other in
// turn, and reports ratio: the median over the pairs of the baseline's
// time over run's. Measured side by side, the ratio does not move with the
// machine's speed the way two benchmarks run one after the other do.
// ns/op is run's alone.
func Paired(b *testing.B, run, baseline func()) {
	b.ReportAllocs()
	b.ResetTimer()
	var ratios []float64
	for i := 0; i < b.N; i++ {
		var base time.Duration
		measureBaseline := func() {
			b.StopTimer()
			t0 := time.Now()
			baseline()
			base = time.Since(t0)
			b.StartTimer()
		}
		if i%2 == 1 {
			measureBaseline()
		}
		t0 := time.Now()
		run()
		took := time.Since(t0)
		if i%2 == 0 {
			measureBaseline()
		}
		ratios = append(ratios, base.Seconds()/took.Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}
