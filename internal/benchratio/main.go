// Command benchratio reads `go test -bench` output and prints each
// benchmark as a ratio against its baseline measured in the same run: a
// benchmark BenchmarkX is paired with BenchmarkXBaseline (ratio =
// baseline ns/op ÷ X ns/op, so 1 means "as fast as the baseline" and
// lower is slower), and a benchmark that reports its own "ratio" metric
// (measured against a baseline inside it) is printed as it is.
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
	var rows []string
	for _, name := range order {
		if strings.HasSuffix(name, "Baseline") {
			continue
		}
		for i, r := range results[name] {
			if v, ok := r.metrics["ratio"]; ok {
				rows = append(rows, fmt.Sprintf("%-48s %6.2f  (measured inside the benchmark)", name, v))
				continue
			}
			base := results[name+"Baseline"]
			if i < len(base) && r.nsPerOp > 0 {
				rows = append(rows, fmt.Sprintf("%-48s %6.2f  (%s ns/op against %s ns/op)", name, base[i].nsPerOp/r.nsPerOp,
					strconv.FormatFloat(r.nsPerOp, 'f', 0, 64), strconv.FormatFloat(base[i].nsPerOp, 'f', 0, 64)))
			}
		}
	}
	sort.Strings(rows)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "ratio against the baseline measured in the same run (1 = as fast as the baseline):")
	for _, r := range rows {
		fmt.Fprintln(out, "  "+r)
	}
	return nil
}
