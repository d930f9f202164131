package query

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/querybench"
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
	bf.plant42 = len(querybench.TagEquality(bf.docs))
	bf.tempRange = len(querybench.ReportedRange(bf.docs))
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

// benchAgainst is benchQuery with baseline run beside each query, in turn
// (querybench.Paired), reporting the median ratio of their times.
func benchAgainst(b *testing.B, ix *Index, text string, want int, baseline func()) {
	q := mustParse(b, text)
	if got := len(drain(b, ix, q)); got != want {
		b.Fatalf("%q: %d rows, baseline has %d", text, got, want)
	}
	querybench.Paired(b, func() { drain(b, ix, q) }, baseline)
}

// (a) a selective equality on a nested tag: about 1% of the fleet.
func BenchmarkTagEquality(b *testing.B) {
	bf := loadBench()
	benchAgainst(b, bf.scan, querybench.TagEqualityQuery, bf.plant42, func() { querybench.TagEquality(bf.docs) })
}

func BenchmarkTagEqualityIndexed(b *testing.B) {
	bf := loadBench()
	benchQuery(b, bf.indexed, querybench.TagEqualityQuery, bf.plant42)
}

func BenchmarkTagEqualityBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		querybench.TagEquality(bf.docs)
	}
}

// (b) a range on a reported number: about 2% of the fleet.
func BenchmarkReportedRange(b *testing.B) {
	bf := loadBench()
	benchAgainst(b, bf.scan, querybench.ReportedRangeQuery, bf.tempRange, func() { querybench.ReportedRange(bf.docs) })
}

func BenchmarkReportedRangeBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		querybench.ReportedRange(bf.docs)
	}
}

// (c) GROUP BY a reported string with COUNT().
func BenchmarkGroupBy(b *testing.B) {
	bf := loadBench()
	want := querybench.GroupBy(bf.docs)
	q := mustParse(b, querybench.GroupByQuery)
	got := drain(b, bf.scan, q)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		b.Fatalf("query rows %v, baseline %v", got, want)
	}
	benchAgainst(b, bf.scan, querybench.GroupByQuery, len(want), func() { querybench.GroupBy(bf.docs) })
}

func BenchmarkGroupByBaseline(b *testing.B) {
	bf := loadBench()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		querybench.GroupBy(bf.docs)
	}
}
