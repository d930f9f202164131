package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func checkList[V any](t *testing.T, s *sortedList[V], model map[string]V) {
	t.Helper()
	n := 0
	prev := ""
	for ci, c := range s.chunks {
		if len(c) == 0 || len(c) > chunkSize {
			t.Fatalf("chunk %d has %d items", ci, len(c))
		}
		for _, it := range c {
			if n > 0 && it.key <= prev {
				t.Fatalf("keys out of order: %q after %q", it.key, prev)
			}
			if want, ok := model[it.key]; !ok || !reflect.DeepEqual(it.v, want) {
				t.Fatalf("key %q holds %v, model %v (present %v)", it.key, it.v, want, ok)
			}
			prev = it.key
			n++
		}
	}
	if n != len(model) || s.len() != len(model) {
		t.Fatalf("%d items (len %d), model has %d", n, s.len(), len(model))
	}
}

// Keys set in order fill every chunk, as a start or an import sets them.
func TestSortedListFillsInOrder(t *testing.T) {
	var s sortedList[int]
	model := map[string]int{}
	const n = 10*chunkSize + 7
	for i := range n {
		key := fmt.Sprintf("k%06d", i)
		s.set(key, i)
		model[key] = i
	}
	checkList(t, &s, model)
	if want := (n + chunkSize - 1) / chunkSize; len(s.chunks) != want {
		t.Fatalf("%d keys in order fill %d chunks, want %d", n, len(s.chunks), want)
	}
	s.set("k000100x", -1) // an insert in the middle still splits
	model["k000100x"] = -1
	checkList(t, &s, model)
}

// The chunked list behaves like a sorted map through splits and removals.
func TestSortedList(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var s sortedList[int]
	model := map[string]int{}
	for step := 0; step < 20000; step++ {
		key := fmt.Sprintf("k%05d", rng.IntN(3000))
		switch {
		case step > 12000 && rng.IntN(3) > 0: // drain phase empties chunks
			s.remove(key)
			delete(model, key)
		case rng.IntN(4) == 0:
			_, had := model[key]
			if got := s.remove(key); got != had {
				t.Fatalf("remove(%q) = %v, want %v", key, got, had)
			}
			delete(model, key)
		default:
			s.set(key, step)
			model[key] = step
		}
		want, wantOK := model[key]
		if v, ok := s.get(key); ok != wantOK || v != want {
			t.Fatalf("get(%q) = %v %v, want %v %v", key, v, ok, want, wantOK)
		}
		if step%997 == 0 {
			checkList(t, &s, model)
		}
	}
	checkList(t, &s, model)

	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, probe := range []string{"", "k", "k00000", "k01500", "k01500x", "k02999", "z"} {
		cur := s.after(probe, true)
		var got []string
		for ci := cur.ci; ci < len(s.chunks); ci++ {
			ei := 0
			if ci == cur.ci {
				ei = cur.ei
			}
			for _, it := range s.chunks[ci][ei:] {
				got = append(got, it.key)
			}
		}
		i, _ := slices.BinarySearch(keys, probe)
		if i < len(keys) && keys[i] == probe {
			i++
		}
		if !slices.Equal(got, keys[i:]) {
			t.Fatalf("after(%q): %d keys, want %d", probe, len(got), len(keys)-i)
		}
	}
}

func TestIndexPutDeleteLen(t *testing.T) {
	ix := NewIndex()
	ix.Put(Devices, "a", MapDoc{"deviceId": "a"})
	ix.Put(Devices, "b", MapDoc{"deviceId": "b"})
	ix.Put(Devices, "a", MapDoc{"deviceId": "a", "status": "disabled"}) // replaces
	ix.Put(Modules, "a/m", MapDoc{"deviceId": "a", "moduleId": "m"})
	ix.Put(Jobs, "a/j1", MapDoc{"deviceId": "a", "jobId": "j1", "status": "completed"})
	ix.Put(Collection(42), "x", MapDoc{}) // ignored
	ix.Put(Devices, "nil", nil)           // ignored
	ix.Delete(Devices, "missing")
	ix.Delete(Collection(-1), "a")
	if ix.Len(Devices) != 2 || ix.Len(Modules) != 1 || ix.Len(Jobs) != 1 || ix.Len(Collection(9)) != 0 {
		t.Fatalf("lens %d %d", ix.Len(Devices), ix.Len(Modules))
	}
	p, err := ix.Execute(mustParse(t, "SELECT deviceId FROM devices WHERE status = 'disabled'"), PageOptions{})
	if err != nil || fmt.Sprint(ids(p.Items)) != "[a]" {
		t.Fatalf("replaced document not visible: %v %v", p.Items, err)
	}
	p, err = ix.Execute(mustParse(t, "SELECT * FROM devices.jobs WHERE jobId = 'j1' AND status = 'completed'"), PageOptions{})
	if err != nil || len(p.Items) != 1 || p.ItemType != ItemTypeDeviceJob {
		t.Fatalf("devices.jobs: %v %q %v", p.Items, p.ItemType, err)
	}
	ix.Delete(Devices, "a")
	if ix.Len(Devices) != 1 {
		t.Fatalf("len after delete %d", ix.Len(Devices))
	}
	if _, err := ix.Execute(nil, PageOptions{}); err == nil {
		t.Fatal("nil query: no error")
	}
}

// randomTags builds tags from a small vocabulary so equality queries hit.
func randomTags(rng *rand.Rand) map[string]any {
	// The Go constant -0.0 is plain zero; a negative zero must be made at run time.
	negZero := math.Copysign(0, -1)
	vals := []any{"a", "b", "A", 1.0, 2.0, negZero, 0.0, true, false, nil, []any{"a"}, map[string]any{"x": "a"}}
	tags := map[string]any{}
	for i := rng.IntN(4); i > 0; i-- {
		k := []string{"p", "q", "r\x00s", "deep"}[rng.IntN(4)]
		v := vals[rng.IntN(len(vals))]
		if k == "deep" {
			v = map[string]any{"p": vals[rng.IntN(len(vals))], "q": map[string]any{"p": vals[rng.IntN(len(vals))]}}
		}
		tags[k] = v
	}
	return tags
}

// The tag equality index returns exactly what a scan returns, through
// random puts, replacements and deletes.
func TestTagIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	indexed, plain := NewIndex(), newIndex(indexOptions{noTagIndex: true})
	queries := []string{
		"SELECT deviceId FROM devices WHERE tags.p = 'a'",
		"SELECT deviceId FROM devices WHERE tags.p = 'A'",
		"SELECT deviceId FROM devices WHERE tags.p = 1",
		"SELECT deviceId FROM devices WHERE tags.p = 0",
		"SELECT deviceId FROM devices WHERE tags.p = -0",
		"SELECT deviceId FROM devices WHERE tags.q = true",
		"SELECT deviceId FROM devices WHERE tags.q = null",
		"SELECT deviceId FROM devices WHERE tags.deep.p = 'b'",
		"SELECT deviceId FROM devices WHERE tags.deep.q.p = false",
		"SELECT deviceId FROM devices WHERE tags.deep.q.p = 'a' AND tags.p = 'b'",
		"SELECT deviceId FROM devices WHERE 'a' = tags.p AND tags.q != 1",
		"SELECT deviceId FROM devices WHERE tags.p.x = 'a'",
		"SELECT COUNT() AS n FROM devices WHERE tags.q = 2",
		"SELECT tags.p AS p, COUNT() AS n FROM devices WHERE tags.deep.p = 'a' GROUP BY tags.p",
	}
	compiled := make([]*Query, len(queries))
	for i, text := range queries {
		compiled[i] = mustParse(t, text)
		if i < 11 && compiled[i].hint == nil {
			t.Fatalf("%q: no index hint", text)
		}
	}
	for step := 0; step < 3000; step++ {
		id := fmt.Sprintf("d%03d", rng.IntN(200))
		if rng.IntN(5) == 0 {
			indexed.Delete(Devices, id)
			plain.Delete(Devices, id)
		} else {
			doc := map[string]any{"deviceId": id, "tags": randomTags(rng)}
			indexed.Put(Devices, id, MapDoc(doc))
			plain.Put(Devices, id, MapDoc(doc))
		}
		if step%100 != 0 {
			continue
		}
		for i, q := range compiled {
			a, _, err1 := runAll(indexed, q, 7)
			b, _, err2 := runAll(plain, q, 7)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("step %d %q: indexed %v, scan %v", step, queries[i], a, b)
			}
		}
	}
}

// Writers and readers run together; the race detector checks the locking,
// and every page must be internally consistent.
func TestConcurrentWritesAndQueries(t *testing.T) {
	ix := genIndex(t, indexOptions{}, 200)
	stop := make(chan struct{})
	deadline := time.After(300 * time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("d%03d", rng.IntN(300))
				if rng.IntN(3) == 0 {
					ix.Delete(Devices, id)
				} else {
					ix.Put(Devices, id, genDoc(id, rng.IntN(10)))
				}
			}
		}(w)
	}
	queries := []*Query{
		mustParse(t, "SELECT * FROM devices WHERE tags.g = 'x'"),
		mustParse(t, "SELECT deviceId FROM devices WHERE tags.n > 4"),
		mustParse(t, "SELECT tags.n AS n, COUNT() AS c FROM devices GROUP BY tags.n"),
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := queries[(r+i)%len(queries)]
				p, err := ix.Execute(q, PageOptions{MaxItemCount: 50})
				if err != nil {
					t.Error(err)
					return
				}
				if len(p.Items) > 50 {
					t.Errorf("page of %d", len(p.Items))
					return
				}
				if q.grouped {
					total := 0.0
					for _, it := range p.Items {
						total += it.(map[string]any)["c"].(float64)
					}
					if total > 300 {
						t.Errorf("groups count %v documents, at most 300 exist", total)
						return
					}
				}
			}
		}(r)
	}
	<-deadline
	close(stop)
	wg.Wait()
}

func TestMatch(t *testing.T) {
	doc := map[string]any{"deviceId": "d1", "tags": map[string]any{"env": "prod", "n": 3.0}}
	for _, tt := range []struct {
		cond string
		want bool
	}{
		{"", true},
		{" WHERE tags.env = 'prod'", true},
		{" WHERE tags.env = 'prod' AND tags.n > 2", true},
		{" WHERE tags.env = 'test'", false},
		{" WHERE tags.missing = 1", false},
		{" WHERE NOT (tags.env = 'prod')", false},
	} {
		if got := mustParse(t, "SELECT * FROM devices"+tt.cond).Match(MapDoc(doc)); got != tt.want {
			t.Errorf("%q: Match = %v, want %v", tt.cond, got, tt.want)
		}
	}
}

// sharedTagsDoc is a document whose tags map can be the very one of another,
// as the hub's twins are after a write that left the tags alone.
type sharedTagsDoc struct {
	MapDoc
	tags map[string]any
}

func (d sharedTagsDoc) SameTags(other Doc) bool {
	o, ok := other.(sharedTagsDoc)
	return ok && fmt.Sprintf("%p", d.tags) == fmt.Sprintf("%p", o.tags)
}

func TestTagIndexFollowsADocumentWhoseTagsStayed(t *testing.T) {
	ix := NewIndex()
	tags := map[string]any{"plant": "north", "rack": map[string]any{"row": 3.0}}
	doc := func(v float64) sharedTagsDoc {
		return sharedTagsDoc{MapDoc{"deviceId": "a", "tags": tags, "properties": map[string]any{"reported": map[string]any{"v": v}}}, tags}
	}
	ix.Put(Devices, "a", doc(1))
	ix.Put(Devices, "b", MapDoc{"deviceId": "b", "tags": map[string]any{"plant": "north"}})
	ix.Put(Devices, "a", doc(2)) // same tags: the postings move to the new document
	for _, q := range []string{
		"SELECT deviceId, properties.reported.v FROM devices WHERE tags.plant = 'north' AND deviceId = 'a'",
		"SELECT deviceId, properties.reported.v FROM devices WHERE tags.rack.row = 3",
	} {
		p, err := ix.Execute(mustParse(t, q), PageOptions{})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("%s: %v, %v", q, p.Items, err)
		}
		if got := fmt.Sprint(p.Items[0]); !strings.Contains(got, "v:2") {
			t.Fatalf("%s: %s, want the new document's v 2", q, got)
		}
	}
	// Tags that change still move the postings.
	tags2 := map[string]any{"plant": "south"}
	ix.Put(Devices, "a", sharedTagsDoc{MapDoc{"deviceId": "a", "tags": tags2}, tags2})
	p, err := ix.Execute(mustParse(t, "SELECT deviceId FROM devices WHERE tags.plant = 'north'"), PageOptions{})
	if err != nil || fmt.Sprint(ids(p.Items)) != "[b]" {
		t.Fatalf("after the tag change north = %v, %v", ids(p.Items), err)
	}
}

// TestShortListsStaySmall: a list grows with its items. A tag index holds
// a list for every value, and a value only one twin has (a serial number)
// must not cost a whole chunk of room.
func TestShortListsStaySmall(t *testing.T) {
	var l sortedList[Doc]
	l.set("a", nil)
	if c := cap(l.chunks[0]); c > 4 {
		t.Fatalf("a list of one item has room for %d", c)
	}
	for i := range 3 * chunkSize {
		l.set(fmt.Sprintf("k%05d", i), nil)
	}
	for i, c := range l.chunks {
		if len(c) > chunkSize {
			t.Fatalf("chunk %d holds %d items, more than %d", i, len(c), chunkSize)
		}
	}
	if l.len() != 3*chunkSize+1 {
		t.Fatalf("len %d", l.len())
	}
}
