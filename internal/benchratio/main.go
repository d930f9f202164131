// Command benchratio reads `go test -bench` output and prints each
// benchmark as a ratio against its baseline measured in the same run: a
// benchmark BenchmarkX is paired with BenchmarkXBaseline (ratio =
// baseline ns/op ÷ X ns/op, so 1 means "as fast as the baseline" and
// lower is slower), and a benchmark that reports its own "ratio" metric
// (measured against a baseline inside it) is printed as it is.
//
// Two more kinds of row have sections of their own: a metric whose unit
// starts with "x-" (x-baseline, x-data-file) is a multiple of a baseline
// measured inside the benchmark, for goals such as "≤ 3× the baseline",
// where lower is better; and a benchmark with no baseline at all (no
// ratio, no multiple, no BenchmarkXBaseline) that reports a rate, a metric
// whose unit ends in "/s" (twins/s), has that absolute rate printed.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

type result struct {
	nsPerOp float64
	metrics map[string]float64
}

// parseLine reads "BenchmarkName-2  N  123 ns/op  0.84 ratio ...".
func parseLine(line string) (name string, r result, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", result{}, false
	}
	name = f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	r.metrics = map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", result{}, false
		}
		if f[i+1] == "ns/op" {
			r.nsPerOp = v
		} else {
			r.metrics[f[i+1]] = v
		}
	}
	return name, r, true
}

func report(in io.Reader, out io.Writer) error {
	results := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line) // the raw output stays visible
		name, r, ok := parseLine(line)
		if !ok {
			continue
		}
		if _, seen := results[name]; !seen {
			order = append(order, name)
		}
		results[name] = append(results[name], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var rows, multiples, rates []string
	for _, name := range order {
		if strings.HasSuffix(name, "Baseline") {
			continue
		}
		base := results[name+"Baseline"]
		for i, r := range results[name] {
			xs := unitsWithPrefix(r.metrics, "x-")
			for _, unit := range xs {
				multiples = append(multiples, fmt.Sprintf("%-48s %6.2f×  (%s, measured inside the benchmark)", name, r.metrics[unit], unit))
			}
			if v, ok := r.metrics["ratio"]; ok {
				rows = append(rows, fmt.Sprintf("%-48s %6.2f  (measured inside the benchmark)", name, v))
				continue
			}
			if i < len(base) && r.nsPerOp > 0 {
				rows = append(rows, fmt.Sprintf("%-48s %6.2f  (%s ns/op against %s ns/op)", name, base[i].nsPerOp/r.nsPerOp,
					strconv.FormatFloat(r.nsPerOp, 'f', 0, 64), strconv.FormatFloat(base[i].nsPerOp, 'f', 0, 64)))
				continue
			}
			if len(xs) > 0 || len(base) > 0 {
				continue
			}
			for unit, v := range r.metrics {
				if strings.HasSuffix(unit, "/s") {
					rates = append(rates, fmt.Sprintf("%-48s %10.0f %s  (no baseline)", name, v, unit))
				}
			}
		}
	}
	sort.Strings(rows)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "ratio against the baseline measured in the same run (1 = as fast as the baseline):")
	for _, r := range rows {
		fmt.Fprintln(out, "  "+r)
	}
	section(out, "multiple of the baseline measured in the same run (1 = the baseline's time or size, lower is better):", multiples)
	section(out, "absolute rates:", rates)
	return nil
}

// section prints a heading and its rows, sorted, unless there are none.
func section(out io.Writer, heading string, rows []string) {
	if len(rows) == 0 {
		return
	}
	sort.Strings(rows)
	fmt.Fprintln(out)
	fmt.Fprintln(out, heading)
	for _, r := range rows {
		fmt.Fprintln(out, "  "+r)
	}
}

// unitsWithPrefix are the metrics' units that start with prefix, sorted.
func unitsWithPrefix(metrics map[string]float64, prefix string) []string {
	var units []string
	for unit := range metrics {
		if strings.HasPrefix(unit, prefix) {
			units = append(units, unit)
		}
	}
	sort.Strings(units)
	return units
}
