package scalebench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/seed"
)

// These tests are all `go test` runs here: the benchmarks start processes
// and populate a fleet only under -bench.

func TestFleetDocumentIsASeed(t *testing.T) {
	for _, tc := range []struct{ from, to int }{{0, 1}, {5, 12}, {998, 1000}} {
		doc, err := seed.Parse(FleetDocument("twin", tc.from, tc.to), "json")
		if err != nil {
			t.Fatalf("%d..%d: %v", tc.from, tc.to, err)
		}
		if len(doc.Devices) != tc.to-tc.from {
			t.Fatalf("%d..%d: %d devices", tc.from, tc.to, len(doc.Devices))
		}
		d := doc.Devices[0]
		if want := fmt.Sprintf("twin-%06d", tc.from); d.ID != want {
			t.Errorf("first id %q, want %q", d.ID, want)
		}
		if len(d.Tags) == 0 || len(d.Desired) == 0 || len(d.Reported) == 0 || d.Keys == nil || d.Keys.Primary != DeviceKey {
			t.Errorf("device %+v lacks tags, desired, reported or keys", d)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         int64
		ok           bool
	}{
		{"kB", "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t  1234 kB\nThreads: 3\n", 1234 << 10, true},
		{"missing", "Name:\tx\n", 0, false},
		{"odd unit", "VmRSS:\t 12 MB\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "status")
			if err := os.WriteFile(p, []byte(tc.status), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := parseVmRSS(f)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %d, %v; want %d, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestProcessRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here: the memory rows of the benchmarks fail on this system")
	}
	rss, err := ProcessRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d, %v", rss, err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}
