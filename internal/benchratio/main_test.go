package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `goos: linux
BenchmarkGroupBy-2           	     100	  2000000 ns/op	 512 B/op
BenchmarkGroupByBaseline-2   	     100	  1000000 ns/op
BenchmarkTelemetryToEventHubs-2 	   20000	    509378 ns/op	         0.8727 ratio	         0.8479 ratio-total
BenchmarkLonely-2 	   10	    5 ns/op
PASS
`
	var out bytes.Buffer
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"BenchmarkGroupBy                                   0.50  (2000000 ns/op against 1000000 ns/op)",
		"BenchmarkTelemetryToEventHubs                      0.87  (measured inside the benchmark)",
		"BenchmarkGroupByBaseline-2", // the raw line passes through
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "BenchmarkLonely  ") {
		t.Errorf("a benchmark with no baseline got a ratio:\n%s", got)
	}
}

func TestParseLineRefusesOtherLines(t *testing.T) {
	for _, l := range []string{"PASS", "ok  pkg 1.2s", "BenchmarkX-2 --- FAIL", "BenchmarkX-2 10 abc ns/op"} {
		if _, _, ok := parseLine(l); ok {
			t.Errorf("parsed %q", l)
		}
	}
}
