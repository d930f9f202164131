package query

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// genDoc is a small device twin for paging tests.
func genDoc(id string, n int) MapDoc {
	return map[string]any{
		"deviceId": id,
		"status":   "enabled",
		"tags":     map[string]any{"g": "x", "n": float64(n), "parity": float64(n % 2)},
	}
}

func genIndex(t testing.TB, o indexOptions, n int) *Index {
	t.Helper()
	ix := newIndex(o)
	for i := 0; i < n; i++ {
		ix.Put(Devices, fmt.Sprintf("d%03d", i), genDoc(fmt.Sprintf("d%03d", i), i))
	}
	return ix
}

func mustParse(t testing.TB, text string) *Query {
	t.Helper()
	q, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return q
}

func ids(items []any) []string {
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		id, _ := m["deviceId"].(string)
		out = append(out, id)
	}
	return out
}

// Every page size gives the same rows, full pages except the last, and no
// empty trailing page.
func TestPageSizes(t *testing.T) {
	const n = 40
	queries := []string{
		"SELECT * FROM devices",
		"SELECT deviceId FROM devices WHERE tags.parity = 1",            // indexed
		"SELECT deviceId FROM devices WHERE tags.n % 3 = 0",             // scanned
		"SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n", // offset tokens
	}
	for _, o := range []indexOptions{{}, {noTagIndex: true}} {
		ix := genIndex(t, o, n)
		for _, text := range queries {
			q := mustParse(t, text)
			all, _, err := runAll(ix, q, MaxPageSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) == 0 {
				t.Fatalf("%q: no rows", text)
			}
			for size := 1; size <= len(all)+1; size++ {
				var got []any
				opts := PageOptions{MaxItemCount: size}
				pages := 0
				for ; pages <= len(all)+1; pages++ {
					p, err := ix.Execute(q, opts)
					if err != nil {
						t.Fatal(err)
					}
					if len(p.Items) > size || (p.Continuation != "" && len(p.Items) != size) {
						t.Fatalf("%q size %d: page of %d items, continuation %q", text, size, len(p.Items), p.Continuation)
					}
					got = append(got, p.Items...)
					if p.Continuation == "" {
						break
					}
					opts.Continuation = p.Continuation
				}
				if want := (len(all) + size - 1) / size; pages+1 != want {
					t.Fatalf("%q size %d: %d pages, want %d", text, size, pages+1, want)
				}
				if fmt.Sprint(got) != fmt.Sprint(all) {
					t.Fatalf("%q size %d: rows differ from a single page", text, size)
				}
			}
		}
	}
}

func TestPageSizeClamp(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 1200)
	q := mustParse(t, "SELECT deviceId FROM devices")
	for _, tt := range []struct{ ask, want int }{
		{0, DefaultPageSize}, {-5, DefaultPageSize}, {1, 1}, {999, 999}, {1000, 1000}, {5000, MaxPageSize},
	} {
		p, err := ix.Execute(q, PageOptions{MaxItemCount: tt.ask})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != tt.want || p.Continuation == "" {
			t.Fatalf("MaxItemCount %d: %d items (continuation %v), want %d", tt.ask, len(p.Items), p.Continuation != "", tt.want)
		}
	}
}

// Between pages, documents are inserted, replaced and deleted at random. A
// document present from the first page to the last is returned exactly
// once; a deleted one is never returned after its deletion; nothing is
// returned twice.
func TestContinuationAcrossWrites(t *testing.T) {
	for _, o := range []indexOptions{{}, {noTagIndex: true}} {
		for seed := uint64(1); seed <= 20; seed++ {
			rng := rand.New(rand.NewPCG(seed, 99))
			ix := genIndex(t, o, 100)
			present := map[string]bool{}
			for i := 0; i < 100; i++ {
				present[fmt.Sprintf("d%03d", i)] = true
			}
			survivors := map[string]bool{}
			for k := range present {
				survivors[k] = true
			}
			q := mustParse(t, "SELECT deviceId FROM devices WHERE tags.g = 'x'")
			seen := map[string]bool{}
			opts := PageOptions{MaxItemCount: 1 + rng.IntN(15)}
			for pages := 0; ; pages++ {
				if pages > 500 {
					t.Fatal("too many pages")
				}
				p, err := ix.Execute(q, opts)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ids(p.Items) {
					if seen[id] {
						t.Fatalf("seed %d: %s returned twice", seed, id)
					}
					if !present[id] {
						t.Fatalf("seed %d: %s returned after its deletion", seed, id)
					}
					seen[id] = true
				}
				if p.Continuation == "" {
					break
				}
				opts.Continuation = p.Continuation
				for m := rng.IntN(10); m > 0; m-- {
					id := fmt.Sprintf("d%03d", rng.IntN(140))
					switch rng.IntN(3) {
					case 0:
						ix.Delete(Devices, id)
						present[id] = false
						delete(survivors, id)
					default: // insert or replace
						ix.Put(Devices, id, genDoc(id, rng.IntN(1000)))
						present[id] = true
					}
				}
			}
			for id := range survivors {
				if !seen[id] {
					t.Fatalf("seed %d: survivor %s skipped", seed, id)
				}
			}
		}
	}
}

// A token stays usable when the document it points after is deleted.
func TestContinuationAfterDeletedKey(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 10)
	q := mustParse(t, "SELECT deviceId FROM devices")
	p, err := ix.Execute(q, PageOptions{MaxItemCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	ix.Delete(Devices, "d002")
	ix.Delete(Devices, "d003")
	p, err = ix.Execute(q, PageOptions{MaxItemCount: 3, Continuation: p.Continuation})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(p.Items), ","); got != "d004,d005,d006" {
		t.Fatalf("next page %s", got)
	}
}

func TestTopAcrossPages(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 20)
	tests := []struct {
		text  string
		size  int
		pages []int
	}{
		{"SELECT TOP 7 deviceId FROM devices", 3, []int{3, 3, 1}},
		{"SELECT TOP 6 deviceId FROM devices", 3, []int{3, 3}},
		{"SELECT TOP 7 * FROM devices WHERE tags.parity = 0", 5, []int{5, 2}},
		{"SELECT TOP 50 deviceId FROM devices", 8, []int{8, 8, 4}},
		{"SELECT TOP 0 deviceId FROM devices", 8, []int{0}},
		{"SELECT TOP 3 tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n", 2, []int{2, 1}},
	}
	for _, tt := range tests {
		q := mustParse(t, tt.text)
		opts := PageOptions{MaxItemCount: tt.size}
		var sizes []int
		for len(sizes) < 10 {
			p, err := ix.Execute(q, opts)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(p.Items))
			if p.Continuation == "" {
				break
			}
			opts.Continuation = p.Continuation
		}
		if !slices.Equal(sizes, tt.pages) {
			t.Fatalf("%q: pages %v, want %v", tt.text, sizes, tt.pages)
		}
	}
}

// TOP counts rows already returned even when data changes between pages.
func TestTopWithWrites(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 20)
	q := mustParse(t, "SELECT TOP 5 deviceId FROM devices")
	p, _ := ix.Execute(q, PageOptions{MaxItemCount: 3})
	for i := 100; i < 110; i++ {
		ix.Put(Devices, fmt.Sprintf("d%03d", i), genDoc("x", i))
	}
	p2, err := ix.Execute(q, PageOptions{MaxItemCount: 3, Continuation: p.Continuation})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items)+len(p2.Items) != 5 || p2.Continuation != "" {
		t.Fatalf("pages of %d and %d items, continuation %q", len(p.Items), len(p2.Items), p2.Continuation)
	}
}

func TestBadContinuation(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 10)
	scanQ := mustParse(t, "SELECT deviceId FROM devices")
	otherQ := mustParse(t, "SELECT deviceId FROM devices WHERE tags.n > 1")
	aggQ := mustParse(t, "SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n")
	page := func(q *Query) string {
		p, err := ix.Execute(q, PageOptions{MaxItemCount: 2})
		if err != nil || p.Continuation == "" {
			t.Fatalf("first page: %v", err)
		}
		return p.Continuation
	}
	scanTok, aggTok := page(scanQ), page(aggQ)
	raw, _ := base64.RawURLEncoding.DecodeString(scanTok)
	tampered := append([]byte(nil), raw...)
	tampered[5] ^= 1
	badVersion := append([]byte(nil), raw...)
	badVersion[0] = 9
	aggRaw, _ := base64.RawURLEncoding.DecodeString(aggTok)

	tests := []struct {
		name string
		q    *Query
		tok  string
		msg  string
	}{
		{"garbage", scanQ, "!!not a token!!", "not issued"},
		{"random base64", scanQ, base64.RawURLEncoding.EncodeToString([]byte("hello world, hi")), "not issued"},
		{"short", scanQ, "AQ", "not issued"},
		{"other query", otherQ, scanTok, "different query"},
		{"scan token on aggregate", aggQ, scanTok, "different query"},
		{"aggregate token on scan", scanQ, aggTok, "different query"},
		{"tampered hash", scanQ, base64.RawURLEncoding.EncodeToString(tampered), "different query"},
		{"bad version", scanQ, base64.RawURLEncoding.EncodeToString(badVersion), "not issued"},
		{"truncated offset", aggQ, base64.RawURLEncoding.EncodeToString(aggRaw[:len(aggRaw)-1]), "not issued"},
		{"trailing bytes", aggQ, base64.RawURLEncoding.EncodeToString(append(aggRaw, 7)), "not issued"},
		{"too long", scanQ, strings.Repeat("A", maxTokenLength+1), "not issued"},
		{"padded", scanQ, scanTok + "==", "not issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ix.Execute(tt.q, PageOptions{Continuation: tt.tok})
			var qe *Error
			if !errors.As(err, &qe) || qe.Position != 0 || !strings.Contains(qe.Message, tt.msg) {
				t.Fatalf("err = %v, want *Error containing %q", err, tt.msg)
			}
		})
	}
	// The genuine tokens still work.
	for _, c := range []struct {
		q   *Query
		tok string
	}{{scanQ, scanTok}, {aggQ, aggTok}} {
		if _, err := ix.Execute(c.q, PageOptions{Continuation: c.tok}); err != nil {
			t.Fatal(err)
		}
	}
}

// An aggregate token past the end (rows disappeared since) is an empty last page.
func TestAggregateOffsetPastEnd(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 10)
	q := mustParse(t, "SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n")
	p, err := ix.Execute(q, PageOptions{MaxItemCount: 8})
	if err != nil || p.Continuation == "" {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		ix.Delete(Devices, fmt.Sprintf("d%03d", i))
	}
	p, err = ix.Execute(q, PageOptions{MaxItemCount: 8, Continuation: p.Continuation})
	if err != nil || len(p.Items) != 0 || p.Continuation != "" || p.Items == nil {
		t.Fatalf("page %v, continuation %q, err %v", p.Items, p.Continuation, err)
	}
}
