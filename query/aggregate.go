package query

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"
	"strings"
)

// group is one GROUP BY bucket (or the single bucket of an aggregate query
// without GROUP BY).
type group struct {
	keys  []val
	canon []string // canonical JSON of object/array keys, for ordering
	count int
	accs  []acc // one per select element; unused for non-aggregates
}

// acc accumulates SUM/AVG/MIN/MAX. Numbers win over strings for MIN/MAX:
// strings only count when the group has no numbers at all.
type acc struct {
	sum        float64
	nnum       int
	minN, maxN float64
	nstr       int
	minS, maxS string
}

func (a *acc) add(v val) {
	switch v.k {
	case kNum:
		if a.nnum == 0 || v.n < a.minN {
			a.minN = v.n
		}
		if a.nnum == 0 || v.n > a.maxN {
			a.maxN = v.n
		}
		a.sum += v.n
		a.nnum++
	case kStr:
		if a.nstr == 0 || v.s < a.minS {
			a.minS = v.s
		}
		if a.nstr == 0 || v.s > a.maxS {
			a.maxS = v.s
		}
		a.nstr++
	}
}

// result is the aggregate's value; ok is false when it is undefined and the
// key is left out of the row.
func (a *acc) result(k aggKind, count int) (any, bool) {
	switch k {
	case aggCount:
		return float64(count), true
	case aggSum:
		if a.nnum > 0 && !math.IsInf(a.sum, 0) {
			return a.sum, true
		}
	case aggAvg:
		if a.nnum > 0 && !math.IsInf(a.sum, 0) {
			return a.sum / float64(a.nnum), true
		}
	case aggMin:
		if a.nnum > 0 {
			return a.minN, true
		}
		if a.nstr > 0 {
			return a.minS, true
		}
	case aggMax:
		if a.nnum > 0 {
			return a.maxN, true
		}
		if a.nstr > 0 {
			return a.maxS, true
		}
	}
	return nil, false
}

// executeGrouped computes every row of an aggregate query, orders them,
// applies TOP, and returns the page at the token's offset. Recomputing per
// page keeps tokens small and valid while data changes.
func executeGrouped(q *Query, list *sortedList[Doc], size int, c cont) Page {
	rows := groupRows(q, list)
	if q.top >= 0 && len(rows) > q.top {
		rows = rows[:q.top]
	}
	off := min(c.offset, len(rows))
	end := min(off+size, len(rows))
	page := Page{Items: rows[off:end:end], ItemType: ItemTypeRaw}
	if end < len(rows) {
		page.Continuation = encodeToken(q, cont{kind: tokOffset, returned: end, offset: end})
	}
	return page
}

func groupRows(q *Query, list *sortedList[Doc]) []any {
	groups := map[string]*group{}
	var order []*group
	if len(q.groupBy) == 0 {
		// Aggregates without GROUP BY always give one row, even over
		// nothing: COUNT() is then 0.
		g := newGroup(q, nil)
		groups[""] = g
		order = append(order, g)
	}
	r := newRow(q.nslots)
	keys := make([]val, len(q.groupBy))
	var buf []byte
	if list != nil {
		for _, chunk := range list.chunks {
			for ei := range chunk {
				doc := chunk[ei].v
				if q.where != nil {
					r.reset(doc)
					if v := q.where.eval(r); v.k != kBool || !v.b {
						continue
					}
				}
				buf = buf[:0]
				for i, p := range q.groupBy {
					keys[i] = undef
					if x, ok := doc.Lookup(p); ok {
						keys[i] = fromAny(x)
					}
					buf = appendKey(buf, keys[i])
				}
				g := groups[string(buf)]
				if g == nil {
					g = newGroup(q, keys)
					groups[string(buf)] = g
					order = append(order, g)
				}
				g.count++
				for i := range q.elems {
					e := &q.elems[i]
					if e.agg == aggNone || e.agg == aggCount {
						continue
					}
					if x, ok := doc.Lookup(e.path); ok {
						g.accs[i].add(fromAny(x))
					}
				}
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return lessGroup(order[i], order[j]) })
	rows := make([]any, len(order))
	for i, g := range order {
		rows[i] = groupRow(q, g)
	}
	return rows
}

func newGroup(q *Query, keys []val) *group {
	g := &group{keys: append([]val(nil), keys...), accs: make([]acc, len(q.elems))}
	g.canon = make([]string, len(keys))
	for i, k := range keys {
		if k.k == kObj || k.k == kArr {
			g.canon[i] = canonicalJSON(k.ref)
		}
	}
	return g
}

func groupRow(q *Query, g *group) map[string]any {
	out := make(map[string]any, len(q.elems))
	for i := range q.elems {
		e := &q.elems[i]
		if e.agg == aggNone {
			if k := g.keys[e.group]; k.defined() {
				out[e.name] = k.toAny()
			}
			continue
		}
		if v, ok := g.accs[i].result(e.agg, g.count); ok {
			out[e.name] = v
		}
	}
	return out
}

// appendKey encodes a group key value so that equal JSON values, and only
// those, give equal bytes.
func appendKey(b []byte, v val) []byte {
	b = append(b, byte(v.k))
	switch v.k {
	case kBool:
		if v.b {
			return append(b, 1)
		}
		return append(b, 0)
	case kNum:
		n := v.n
		if n == 0 {
			n = 0 // fold -0
		}
		return binary.BigEndian.AppendUint64(b, math.Float64bits(n))
	case kStr:
		b = binary.AppendUvarint(b, uint64(len(v.s)))
		return append(b, v.s...)
	case kObj, kArr:
		s := canonicalJSON(v.ref)
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	return b
}

// canonicalJSON encodes an object or array with sorted keys (encoding/json
// sorts map keys), so equal values encode equally.
func canonicalJSON(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		// Only a hand-built document can fail; group it under its error.
		return "\x00" + err.Error()
	}
	return string(b)
}

// lessGroup orders groups by their key values: undefined, null, false, true,
// numbers ascending, strings by code point, then objects and arrays by their
// canonical JSON.
func lessGroup(a, b *group) bool {
	for i := range a.keys {
		if c := compareGroupKey(a.keys[i], b.keys[i], a.canon[i], b.canon[i]); c != 0 {
			return c < 0
		}
	}
	return false
}

func compareGroupKey(a, b val, ca, cb string) int {
	if a.k != b.k {
		if a.k < b.k {
			return -1
		}
		return 1
	}
	if a.k == kObj || a.k == kArr {
		return strings.Compare(ca, cb)
	}
	c, _ := compare(a, b)
	return c
}
