package seed

import (
	"fmt"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
)

// fleet is a document of n devices with tags, desired and reported
// properties, as a large seed file holds them.
func fleet(n int) *Document {
	d := &Document{}
	for i := range n {
		d.Devices = append(d.Devices, Device{ID: fmt.Sprintf("dev-%06d", i),
			Tags:     Properties{"site": fmt.Sprintf("s%d", i%50), "floor": float64(i % 10)},
			Desired:  Properties{"interval": float64(i % 60), "mode": "eco"},
			Reported: Properties{"fw": "1.2.3", "temp": float64(20 + i%15), "rssi": -60.0}})
	}
	return d
}

// BenchmarkApplyFleet loads a 10,000-device document into an empty hub
// on a file store; twins/s is the figure the scale goal names.
func BenchmarkApplyFleet(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		h := newHubOn(b, storetest.Temp(b), nil)
		d := fleet(n)
		b.StartTimer()
		if _, err := Apply(b.Context(), h, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "twins/s")
}
