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

func TestReportMultiplesAndRates(t *testing.T) {
	in := `BenchmarkColdStart-2 	       1	16660244938 ns/op	         0.3221 s-start	        14.49 x-bolt-read
BenchmarkDesiredNotify-2 	       1	 268777095 ns/op	         0.7785 ms-p50	         8.159 x-baseline
BenchmarkImport-2 	       1	      4837 ns/op	        15.56 s-populate	       314.3 twins/s
BenchmarkRegistryCreate-2 	       1	1591611901 ns/op	      2792 creates/s	         0.1107 ratio
BenchmarkPaired-2 	       1	      2000 ns/op	      10 items/s
BenchmarkPairedBaseline-2 	       1	      1000 ns/op
`
	var out bytes.Buffer
	if err := report(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"BenchmarkColdStart                                14.49×  (x-bolt-read, measured inside the benchmark)",
		"BenchmarkDesiredNotify                             8.16×  (x-baseline, measured inside the benchmark)",
		"BenchmarkImport                                         314 twins/s  (no baseline)",
		"BenchmarkRegistryCreate                            0.11  (measured inside the benchmark)",
		"BenchmarkPaired                                    0.50  (2000 ns/op against 1000 ns/op)",
		"lower is better",
		"absolute rates:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"creates/s  (no baseline)", "items/s  (no baseline)", "s-start"} {
		if strings.Contains(got[strings.Index(got, "ratio against"):], unwanted) {
			t.Errorf("the summary has %q, which has a baseline or is no rate:\n%s", unwanted, got)
		}
	}
}

func TestReportLeavesOutEmptySections(t *testing.T) {
	var out bytes.Buffer
	if err := report(strings.NewReader("BenchmarkX-2 10 5 ns/op\n"), &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "multiple of") || strings.Contains(s, "absolute rates") {
		t.Errorf("empty sections printed:\n%s", s)
	}
}
