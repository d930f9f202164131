package query

import (
	"fmt"
	"strings"
)

// resolve names the select elements and checks that the select list, the
// aggregates and GROUP BY fit together.
func (p *parser) resolve(q *Query, groupTok token) error {
	if q.star && q.groupBy != nil {
		return errAt(groupTok.pos, "GROUP BY @pos cannot be used with SELECT *")
	}
	for _, e := range q.elems {
		if e.agg != aggNone {
			q.grouped = true
		}
	}
	if q.groupBy != nil {
		q.grouped = true
	}
	seen := map[string]bool{}
	unnamed := 0
	for i := range q.elems {
		e := &q.elems[i]
		if e.name == "" {
			if e.agg != aggNone {
				unnamed++
				e.name = fmt.Sprintf("$%d", unnamed)
			} else {
				e.name = e.path[len(e.path)-1]
			}
		}
		if seen[e.name] {
			return errAt(e.pos, "duplicate result name %s @pos; give one of them an alias with AS", quoteShort(e.name))
		}
		seen[e.name] = true
		if !q.grouped || e.agg != aggNone {
			continue
		}
		for gi, g := range q.groupBy {
			if samePath(g, e.path) {
				e.group = gi
				break
			}
		}
		if e.group < 0 {
			what := quoteShort(strings.Join(e.path, "."))
			if q.groupBy == nil {
				return errAt(e.pos, "%s @pos cannot be selected together with aggregates unless it is in GROUP BY", what)
			}
			return errAt(e.pos, "%s @pos must appear in GROUP BY to be selected", what)
		}
	}
	return nil
}

// assignSlots gives every path that the WHERE clause reads more than once a
// shared cache slot, so a range test reads its path once per row.
func (p *parser) assignSlots(q *Query) {
	count := map[string]int{}
	for _, n := range p.paths {
		count[pathKey(n.segs)]++
	}
	slots := map[string]int{}
	for _, n := range p.paths {
		k := pathKey(n.segs)
		if count[k] < 2 {
			continue
		}
		s, ok := slots[k]
		if !ok {
			s = len(slots)
			slots[k] = s
		}
		n.slot = s
	}
	q.nslots = len(slots)
}

// findEqHint picks a conjunct "tags.<path> = primitive" that the tag
// equality index can answer.
func findEqHint(where node) *eqHint {
	switch n := where.(type) {
	case *cmpPathLit:
		if n.op == opEq && len(n.p.segs) >= 2 && n.p.segs[0] == "tags" && n.lit.k >= kNull && n.lit.k <= kStr {
			return &eqHint{path: n.p.segs[1:], v: n.lit}
		}
	case *andNode:
		for _, x := range n.xs {
			if h := findEqHint(x); h != nil {
				return h
			}
		}
	}
	return nil
}
