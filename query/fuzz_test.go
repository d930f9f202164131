package query

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are the conformance queries plus inputs aimed at the lexer.
func fuzzSeeds(t testing.TB) []string {
	seeds := []string{
		"", "SELECT", "[[", "[[]]", "[[a]]", "'\\u", "'\\ud83d\\u", "0x", "1e", "\xff\xfe",
		"SELECT * FROM devices WHERE ((((((((((1))))))))))",
		"SELECT * FROM devices WHERE NOT NOT NOT NOT true",
		"SELECT * FROM devices WHERE tags.[[group]].[[a]] IN [[ 1 ], [ [2] ]]",
		"SELECT TOP 2147483647 * FROM devices",
		"SELECT TOP 2147483648 * FROM devices",
		"SELECT a.b.c.d.e.f.g.h FROM devices GROUP BY a.b.c.d.e.f.g.h",
		"SELECT * FROM devices WHERE CONCAT('a','b','c','d','e','f') = 'abcdef'",
	}
	f, err := os.Open("testdata/conformance.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if q, ok := strings.CutPrefix(sc.Text(), "query:"); ok {
			seeds = append(seeds, strings.TrimPrefix(q, " "))
		}
	}
	return seeds
}

// FuzzParse: any input gives a query or an *Error whose position lies
// within the text (or just past it), and never panics. Recursion is bounded
// by maxDepth and input size by MaxQueryLength.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(text)
		if err == nil {
			if q == nil || q.Collection() < Devices || q.Collection() > Jobs {
				t.Fatalf("Parse(%q) = %v, nil", text, q)
			}
			return
		}
		var qe *Error
		if !errors.As(err, &qe) {
			t.Fatalf("Parse(%q): %T %v", text, err, err)
		}
		n := utf8.RuneCountInString(text)
		if qe.Position < 1 || (qe.Position > n+1 && qe.Position != MaxQueryLength+1) {
			t.Fatalf("Parse(%q): position %d outside 1..%d", text, qe.Position, n+1)
		}
		if qe.Message == "" {
			t.Fatalf("Parse(%q): empty message", text)
		}
	})
}

// FuzzEvaluate parses and runs any query over the extended fleet, page by
// page. Results must encode as JSON, respect the page size, and be the
// same with and without the tag index.
func FuzzEvaluate(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, uint8(i%5))
	}
	fl := loadFleets(f)["extended"]
	indexed, plain := fl.index(indexOptions{}), fl.index(indexOptions{noTagIndex: true})
	f.Fuzz(func(t *testing.T, text string, size uint8) {
		q, err := Parse(text)
		if err != nil {
			return
		}
		a, typA, errA := runAll(indexed, q, int(size))
		b, typB, errB := runAll(plain, q, int(size))
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q: indexed err %v, scan err %v", text, errA, errB)
		}
		if errA != nil {
			var qe *Error
			if !errors.As(errA, &qe) {
				t.Fatalf("%q: %T %v", text, errA, errA)
			}
			return
		}
		if typA != typB || (typA != ItemTypeTwin && typA != ItemTypeRaw && typA != ItemTypeDeviceJob) {
			t.Fatalf("%q: item types %q %q", text, typA, typB)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: indexed and scanned results differ", text)
		}
		lq, err := parse(text, false)
		if err != nil {
			t.Fatalf("%q parses only when rewritten: %v", text, err)
		}
		if c, _, err := runAll(plain, lq, int(size)); err != nil || !reflect.DeepEqual(a, c) {
			t.Fatalf("%q: rewritten and literal WHERE trees differ (%v)", text, err)
		}
		if _, err := json.Marshal(a); err != nil {
			t.Fatalf("%q: results do not encode: %v", text, err)
		}
		if q.top >= 0 && len(a) > q.top {
			t.Fatalf("%q: %d rows despite TOP %d", text, len(a), q.top)
		}
	})
}
