package query

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fleetFile is testdata/fleet.json: named groups of device and module twins.
type fleetFile map[string]struct {
	Devices []map[string]any `json:"devices"`
	Modules []map[string]any `json:"modules"`
}

// fleet is one loaded set of documents, by collection and key.
type fleet struct {
	docs [2]map[string]map[string]any
}

func docKey(c Collection, doc map[string]any) string {
	id, _ := doc["deviceId"].(string)
	if c == Modules {
		m, _ := doc["moduleId"].(string)
		return id + "/" + m
	}
	return id
}

func loadFleets(t testing.TB) map[string]*fleet {
	t.Helper()
	b, err := os.ReadFile("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var ff fleetFile
	if err := json.Unmarshal(b, &ff); err != nil {
		t.Fatal(err)
	}
	mk := func(groups ...string) *fleet {
		f := &fleet{}
		for c := range f.docs {
			f.docs[c] = map[string]map[string]any{}
		}
		for _, g := range groups {
			for _, d := range ff[g].Devices {
				f.docs[Devices][docKey(Devices, d)] = d
			}
			for _, d := range ff[g].Modules {
				f.docs[Modules][docKey(Modules, d)] = d
			}
		}
		return f
	}
	return map[string]*fleet{"worked": mk("worked"), "extended": mk("worked", "extra")}
}

func (f *fleet) index(o indexOptions) *Index {
	ix := newIndex(o)
	for c, docs := range f.docs {
		for k, d := range docs {
			ix.Put(Collection(c), k, MapDoc(d))
		}
	}
	return ix
}

// confCase is one entry of testdata/conformance.txt.
type confCase struct {
	line  int
	fleet string
	query string
	kind  string // twin, ids, raw, error
	arg   string
}

func loadCases(t *testing.T) []confCase {
	t.Helper()
	f, err := os.Open("testdata/conformance.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []confCase
	var cur *confCase
	fleetName := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			if cur != nil {
				t.Fatalf("line %d: case from line %d has no expectation", n, cur.line)
			}
		case strings.HasPrefix(line, "== fleet "):
			fleetName = strings.TrimPrefix(line, "== fleet ")
		case strings.HasPrefix(line, "query:"):
			if cur != nil {
				t.Fatalf("line %d: case from line %d has no expectation", n, cur.line)
			}
			cur = &confCase{line: n, fleet: fleetName, query: strings.TrimPrefix(strings.TrimPrefix(line, "query:"), " ")}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || cur == nil {
				t.Fatalf("line %d: unexpected %q", n, line)
			}
			switch k {
			case "twin", "ids", "raw", "error":
			default:
				t.Fatalf("line %d: unknown expectation %q", n, k)
			}
			cur.kind, cur.arg = k, strings.TrimSpace(v)
			cases = append(cases, *cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("case from line %d has no expectation", cur.line)
	}
	return cases
}

// runAll executes q to the end with the given page size and returns every
// item and the item type of the pages.
func runAll(ix *Index, q *Query, size int) ([]any, string, error) {
	var items []any
	itemType := ""
	opts := PageOptions{MaxItemCount: size}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			return nil, "", errors.New("more than 1000 pages")
		}
		p, err := ix.Execute(q, opts)
		if err != nil {
			return nil, "", err
		}
		if itemType != "" && p.ItemType != itemType {
			return nil, "", fmt.Errorf("item type changed from %s to %s between pages", itemType, p.ItemType)
		}
		itemType = p.ItemType
		if p.Items == nil {
			return nil, "", errors.New("nil Items (must encode as [])")
		}
		if size > 0 && len(p.Items) > size {
			return nil, "", fmt.Errorf("page has %d items, page size %d", len(p.Items), size)
		}
		items = append(items, p.Items...)
		if p.Continuation == "" {
			return items, itemType, nil
		}
		opts.Continuation = p.Continuation
	}
}

// normalize round-trips through JSON, as the REST layer will.
func normalize(t *testing.T, x any) any {
	t.Helper()
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatalf("result does not encode as JSON: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	fleets := loadFleets(t)
	indexes := map[string][2]*Index{}
	for name, f := range fleets {
		indexes[name] = [2]*Index{f.index(indexOptions{}), f.index(indexOptions{noTagIndex: true})}
	}
	cases := loadCases(t)
	if len(cases) < 200 {
		t.Fatalf("only %d cases loaded", len(cases))
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("line%d", tc.line), func(t *testing.T) {
			f := fleets[tc.fleet]
			if f == nil {
				t.Fatalf("unknown fleet %q", tc.fleet)
			}
			q, err := Parse(tc.query)
			if tc.kind == "error" {
				checkError(t, tc, q, err, indexes[tc.fleet][0])
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.query, err)
			}
			literal, err := parse(tc.query, false)
			if err != nil {
				t.Fatalf("parse(%q) without rewriting: %v", tc.query, err)
			}
			for ii, ix := range indexes[tc.fleet] {
				for _, size := range []int{0, 1, 2, 3} {
					items, itemType, err := runAll(ix, q, size)
					if err != nil {
						t.Fatalf("%q (page size %d, tag index %v): %v", tc.query, size, ii == 0, err)
					}
					checkResult(t, tc, f, items, itemType, fmt.Sprintf("page size %d, tag index %v", size, ii == 0))
				}
			}
			// The WHERE rewrites (merged comparisons) change no answer.
			items, itemType, err := runAll(indexes[tc.fleet][1], literal, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, tc, f, items, itemType, "without rewriting")
		})
	}
}

func checkError(t *testing.T, tc confCase, q *Query, err error, ix *Index) {
	t.Helper()
	posText, msg, _ := strings.Cut(tc.arg, " ")
	pos, perr := strconv.Atoi(posText)
	if perr != nil {
		t.Fatalf("bad error expectation %q", tc.arg)
	}
	if pos == 0 {
		if err != nil {
			t.Fatalf("Parse(%q): %v; want success", tc.query, err)
		}
		_, err = ix.Execute(q, PageOptions{})
	}
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("%q: error %v (%T), want *Error", tc.query, err, err)
	}
	if qe.Position != pos || qe.Message != msg {
		t.Fatalf("%q:\n got  %d %s\n want %d %s", tc.query, qe.Position, qe.Message, pos, msg)
	}
}

func checkResult(t *testing.T, tc confCase, f *fleet, items []any, itemType, how string) {
	t.Helper()
	switch tc.kind {
	case "twin":
		if itemType != ItemTypeTwin {
			t.Fatalf("%q (%s): item type %q, want Twin", tc.query, how, itemType)
		}
		coll := Devices
		if q, _ := Parse(tc.query); q != nil {
			coll = q.Collection()
		}
		want := strings.Fields(tc.arg)
		if len(items) != len(want) {
			t.Fatalf("%q (%s): %d items, want %v", tc.query, how, len(items), want)
		}
		for i, it := range items {
			doc, ok := it.(map[string]any)
			if !ok {
				t.Fatalf("%q: item %d is %T", tc.query, i, it)
			}
			// SELECT * returns the very document that was stored.
			if !reflect.DeepEqual(doc, f.docs[coll][want[i]]) {
				t.Fatalf("%q (%s): item %d is %v, want document %s", tc.query, how, i, docKey(coll, doc), want[i])
			}
		}
	case "ids", "raw":
		if itemType != ItemTypeRaw {
			t.Fatalf("%q (%s): item type %q, want Raw", tc.query, how, itemType)
		}
		var want any
		if tc.kind == "ids" {
			rows := []any{}
			for _, id := range strings.Fields(tc.arg) {
				rows = append(rows, map[string]any{"deviceId": id})
			}
			want = rows
		} else if err := json.Unmarshal([]byte(tc.arg), &want); err != nil {
			t.Fatalf("line %d: bad raw JSON: %v", tc.line, err)
		}
		got := normalize(t, items)
		if got == nil {
			got = []any{}
		}
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Fatalf("%q (%s):\n got  %s\n want %s", tc.query, how, gb, wb)
		}
	}
}
