package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/querybench"
	"github.com/iothub-emulator/iothub-emulator/query"
)

// benchFleetSize is the fleet the scale table measures queries over.
const benchFleetSize = 100_000

// BenchmarkTwinQuery runs the scale table's query rows through the hub, over
// the twins as the hub holds them, against the baseline the table names: a
// hand-written Go loop over the same twins decoded from their service JSON
// (what a back end holding the fleet in memory would write). The query
// package's own benchmarks measure the engine over decoded maps, where both
// sides read the same maps.
func BenchmarkTwinQuery(b *testing.B) {
	ctx := context.Background()
	h, _ := openHub(b, filepath.Join(b.TempDir(), "hub.db"))
	rng := rand.New(rand.NewPCG(2024, 1))
	regions := []string{"US", "EU", "APAC", "LATAM"}
	items := make([]NewIdentity, 0, 1000)
	for i := 0; i < benchFleetSize; i++ {
		reported := map[string]any{
			"temperature":  rng.Float64() * 50,
			"battery":      float64(rng.IntN(101)),
			"connectivity": map[string]any{"type": []string{"wifi", "cellular", "wired"}[rng.IntN(3)]},
		}
		if rng.IntN(20) > 0 { // 5% have no firmware reported
			reported["fw"] = fmt.Sprintf("1.%d.%d", rng.IntN(3), rng.IntN(4))
		}
		items = append(items, NewIdentity{
			DeviceID: fmt.Sprintf("dev-%06d", i), Body: []byte(`{}`),
			Tags: map[string]any{
				"location": map[string]any{"region": regions[rng.IntN(4)], "plant": fmt.Sprintf("Plant%d", rng.IntN(100))},
				"floor":    float64(rng.IntN(10)),
			},
			Desired:  map[string]any{"interval": float64(1 + rng.IntN(60))},
			Reported: reported,
		})
		if len(items) == cap(items) {
			if err := h.CreateMany(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	docs := make([]map[string]any, 0, benchFleetSize)
	for i := 0; i < benchFleetSize; i++ {
		tw, err := h.GetTwin(ctx, fmt.Sprintf("dev-%06d", i), "")
		if err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(tw)
		if err != nil {
			b.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			b.Fatal(err)
		}
		docs = append(docs, doc)
	}

	b.Run("range", func(b *testing.B) {
		text := querybench.ReportedRangeQuery
		want := len(querybench.ReportedRange(docs))
		querybench.Paired(b, func() {
			if got := len(drainHub(b, h, text)); got != want {
				b.Fatalf("%d rows, the loop has %d", got, want)
			}
		}, func() { querybench.ReportedRange(docs) })
	})
	b.Run("groupBy", func(b *testing.B) {
		text := querybench.GroupByQuery
		want := fmt.Sprint(querybench.GroupBy(docs))
		querybench.Paired(b, func() {
			if got := fmt.Sprint(drainHub(b, h, text)); got != want {
				b.Fatalf("rows %s, the loop has %s", got, want)
			}
		}, func() { querybench.GroupBy(docs) })
	})
}

// drainHub runs text to its last page, 1,000 rows a page.
func drainHub(b *testing.B, h *Hub, text string) []any {
	var out []any
	opts := query.PageOptions{MaxItemCount: query.MaxPageSize}
	for {
		p, err := h.QueryDocs(context.Background(), text, opts)
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
