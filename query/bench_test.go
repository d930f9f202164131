package query

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// benchFleet is 100,000 generated device twins, decoded from JSON once and
// shared by every benchmark (building it takes a few seconds).
type benchFleet struct {
	docs      []map[string]any // in key order, as the index stores them
	scan      *Index           // no tag index: every query is a scan
	indexed   *Index
	plant42   int // expected matches, for checking both sides agree
	tempRange int
}

const benchTwins = 100_000

var loadBench = sync.OnceValue(func() *benchFleet {
	rng := rand.New(rand.NewPCG(2024, 1))
	bf := &benchFleet{scan: newIndex(indexOptions{noTagIndex: true}), indexed: NewIndex()}
	regions := []string{"US", "EU", "APAC", "LATAM"}
	for i := 0; i < benchTwins; i++ {
		id := fmt.Sprintf("dev-%06d", i)
		reported := map[string]any{
			"temperature":  rng.Float64() * 50,
			"battery":      rng.IntN(101),
			"connectivity": map[string]any{"type": []string{"wifi", "cellular", "wired"}[rng.IntN(3)]},
			"$metadata":    map[string]any{"$lastUpdated": "2024-01-01T00:00:00.0000000Z"},
			"$version":     1 + rng.IntN(50),
		}
		if rng.IntN(20) > 0 { // 5% have no firmware reported
			reported["fw"] = fmt.Sprintf("1.%d.%d", rng.IntN(3), rng.IntN(4))
		}
		twin := map[string]any{
			"deviceId": id, "etag": "AAAAAAAAAAE=", "deviceEtag": "MTIz", "status": "enabled",
			"statusReason": nil, "statusUpdateTime": "0001-01-01T00:00:00Z",
			"connectionState": "Connected", "lastActivityTime": "2024-01-01T00:00:00Z",
			"cloudToDeviceMessageCount": 0, "authenticationType": "sas",
			"x509Thumbprint": map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil},
			"modelId":        "", "version": 3, "capabilities": map[string]any{"iotEdge": false},
			"tags": map[string]any{
				"location": map[string]any{"region": regions[rng.IntN(4)], "plant": fmt.Sprintf("Plant%d", rng.IntN(100))},
				"floor":    rng.IntN(10),
			},
			"properties": map[string]any{
				"desired":  map[string]any{"$metadata": map[string]any{"$lastUpdated": "2024-01-01T00:00:00Z"}, "$version": 1},
				"reported": reported,
			},
		}
		// Round-trip through JSON so the documents hold exactly what
		// encoding/json produces, as the hub's documents do.
		b, err := json.Marshal(twin)
		if err != nil {
			panic(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			panic(err)
		}
		bf.docs = append(bf.docs, doc)
		bf.scan.Put(Devices, id, MapDoc(doc))
		bf.indexed.Put(Devices, id, MapDoc(doc))
	}
	// Settle the collector so the first benchmark does not pay for the build.
	runtime.GC()
	bf.plant42 = len(baselineTagEquality(bf.docs))
	bf.tempRange = len(baselineReportedRange(bf.docs))
	return bf
})

// drain runs q to the last page with the largest page size.
func drain(b *testing.B, ix *Index, q *Query) []any {
	var out []any
	opts := PageOptions{MaxItemCount: MaxPageSize}
	for {
		p, err := ix.Execute(q, opts)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.Continuation == "" {
			return out
		}
		opts.Continuation = p.Continuation
	}
}

func benchQuery(b *testing.B, ix *Index, text string, want int) {
	q := mustParse(b, text)
	if got := len(drain(b, ix, q)); got != want {
		b.Fatalf("%q: %d rows, baseline has %d", text, got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		drain(b, ix, q)
	}
}

// benchAgainst is benchQuery that also runs baseline beside each query,
// first one then the other in turn, and reports ratio: the median over
// those pairs of the baseline's time over the query's. Measured side by
// side, the ratio does not move with the machine's speed between two
// benchmarks run one after the other, which BenchmarkXBaseline's ns/op
// does. ns/op stays the query's alone.
func benchAgainst(b *testing.B, ix *Index, text string, want int, baseline func()) {
	q := mustParse(b, text)
	if got := len(drain(b, ix, q)); got != want {
		b.Fatalf("%q: %d rows, baseline has %d", text, got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var ratios []float64
	for i := 0; i < b.N; i++ {
		var engine, base time.Duration
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
		drain(b, ix, q)
		engine = time.Since(t0)
		if i%2 == 0 {
			measureBaseline()
		}
		ratios = append(ratios, base.Seconds()/engine.Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// (a) a selective equality on a nested tag: about 1% of the fleet.
const tagEqualityQuery = "SELECT * FROM devices WHERE tags.location.plant = 'Plant42'"

func baselineTagEquality(docs []map[string]any) []any {
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

func BenchmarkTagEquality(b *testing.B) {
	bf := loadBench()
	benchAgainst(b, bf.scan, tagEqualityQuery, bf.plant42, func() { baselineTagEquality(bf.docs) })
}

func BenchmarkTagEqualityIndexed(b *testing.B) {
	bf := loadBench()
	benchQuery(b, bf.indexed, tagEqualityQuery, bf.plant42)
}

func BenchmarkTagEqualityBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		baselineTagEquality(bf.docs)
	}
}

// (b) a range on a reported number: about 2% of the fleet.
const reportedRangeQuery = "SELECT * FROM devices WHERE properties.reported.temperature > 30 AND properties.reported.temperature < 31"

func baselineReportedRange(docs []map[string]any) []any {
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

func BenchmarkReportedRange(b *testing.B) {
	bf := loadBench()
	benchAgainst(b, bf.scan, reportedRangeQuery, bf.tempRange, func() { baselineReportedRange(bf.docs) })
}

func BenchmarkReportedRangeBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		baselineReportedRange(bf.docs)
	}
}

// (c) GROUP BY a reported string with COUNT().
const groupByQuery = "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw"

func baselineGroupBy(docs []map[string]any) []any {
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

func BenchmarkGroupBy(b *testing.B) {
	bf := loadBench()
	want := baselineGroupBy(bf.docs)
	q := mustParse(b, groupByQuery)
	got := drain(b, bf.scan, q)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		b.Fatalf("query rows %v, baseline %v", got, want)
	}
	benchAgainst(b, bf.scan, groupByQuery, len(want), func() { baselineGroupBy(bf.docs) })
}

func BenchmarkGroupByBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		baselineGroupBy(bf.docs)
	}
}
