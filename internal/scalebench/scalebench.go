// Package scalebench is the benchmark suite of the 100,000-twin scale
// goals (docs/performance.md): each benchmark runs the emulator and its
// baseline in the same run and reports how the one compares with the other.
// The emulator runs as the built binary, and every baseline in a process of
// its own (cmd/scalebase), so that start times and resident memory are the
// servers' alone and clients and servers never share a heap.
//
// The benchmarks ignore b.N (each runs a bounded number of rounds): run
// them with -benchtime 1x, as `make bench` does. Nothing here runs under
// `go test` without -bench but the small tests of the helpers.
package scalebench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// DeviceKey is the primary key of every generated device (base64 of 32
// bytes), so that the benchmarks can sign their tokens without asking.
const DeviceKey = "c2NhbGViZW5jaC1kZXZpY2Uta2V5LTAxMjM0NTY3ODk="

// FleetDocument is a seed document (the body of /emulator/import) of the
// twins from..to-1 of the generated fleet, named prefix-NNNNNN: each with
// tags, desired and reported properties, deterministic in i.
func FleetDocument(prefix string, from, to int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"hub":{},"devices":[`)
	regions := []string{"US", "EU", "APAC", "LATAM"}
	fws := []string{"1.0.3", "1.1.0", "1.2.1", "2.0.0"}
	for i := from; i < to; i++ {
		if i > from {
			buf.WriteByte(',')
		}
		dev := map[string]any{
			"id":   fmt.Sprintf("%s-%06d", prefix, i),
			"keys": map[string]string{"primary": DeviceKey, "secondary": DeviceKey},
			"tags": map[string]any{
				"location": map[string]any{"region": regions[i%4], "plant": fmt.Sprintf("Plant%d", i%100)},
				"floor":    i % 10,
				"owner":    "ops-team",
			},
			"desired": map[string]any{
				"telemetryInterval": 5 + i%30,
				"thresholds":        map[string]any{"high": 40.5, "low": -5},
				"mode":              "normal",
			},
			"reported": map[string]any{
				"temperature":  float64(i%5000) / 100,
				"battery":      i % 101,
				"fw":           fws[i%4],
				"connectivity": map[string]any{"type": []string{"wifi", "cellular", "wired"}[i%3], "rssi": -40 - i%50},
			},
		}
		b, err := json.Marshal(dev)
		if err != nil {
			panic(err) // only maps of plain values
		}
		buf.Write(b)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// ProcessRSS is the resident set size of process pid in bytes, from
// /proc/<pid>/status (Linux only: elsewhere it fails, and so does the
// benchmark that needs it).
func ProcessRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("resident memory needs Linux's /proc: %w", err)
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(f *os.File) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", sc.Text())
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in %s", f.Name())
}
