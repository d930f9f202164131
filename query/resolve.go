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

// optimize rewrites the WHERE tree: within each AND, comparisons of the
// same path with literals merge into one multiCmp. AND is commutative in
// three-valued logic and evaluation has no side effects, so this changes
// no answer.
func optimize(n node) node {
	switch t := n.(type) {
	case *andNode:
		var out []node
		merged := map[string]*multiCmp{}
		for _, x := range t.xs {
			x = optimize(x)
			c, ok := x.(*cmpPathLit)
			if !ok {
				out = append(out, x)
				continue
			}
			k := pathKey(c.p.segs)
			if m := merged[k]; m != nil {
				m.conds = append(m.conds, pathCond{op: c.op, lit: c.lit})
				continue
			}
			m := &multiCmp{p: c.p, conds: []pathCond{{op: c.op, lit: c.lit}}}
			merged[k] = m
			out = append(out, m)
		}
		for i, x := range out {
			if m, ok := x.(*multiCmp); ok {
				if len(m.conds) == 1 {
					out[i] = &cmpPathLit{op: m.conds[0].op, p: m.p, lit: m.conds[0].lit}
				} else {
					out[i] = newMultiCmp(m.p, m.conds)
				}
			}
		}
		if len(out) == 1 {
			return out[0]
		}
		return &andNode{xs: out}
	case *orNode:
		for i, x := range t.xs {
			t.xs[i] = optimize(x)
		}
	case *notNode:
		t.x = optimize(t.x)
	case *callNode:
		for i, x := range t.args {
			t.args[i] = optimize(x)
		}
	case *cmpNode:
		t.l, t.r = optimize(t.l), optimize(t.r)
	case *inNode:
		t.x = optimize(t.x)
	case *arithNode:
		t.l, t.r = optimize(t.l), optimize(t.r)
	case *negNode:
		t.x = optimize(t.x)
	}
	return n
}

// walkPaths calls fn for every path node in the tree.
func walkPaths(n node, fn func(*pathNode)) {
	switch t := n.(type) {
	case *pathNode:
		fn(t)
	case *cmpPathLit:
		fn(t.p)
	case *multiCmp:
		fn(t.p)
	case *andNode:
		for _, x := range t.xs {
			walkPaths(x, fn)
		}
	case *orNode:
		for _, x := range t.xs {
			walkPaths(x, fn)
		}
	case *notNode:
		walkPaths(t.x, fn)
	case *callNode:
		for _, x := range t.args {
			walkPaths(x, fn)
		}
	case *cmpNode:
		walkPaths(t.l, fn)
		walkPaths(t.r, fn)
	case *inNode:
		walkPaths(t.x, fn)
	case *arithNode:
		walkPaths(t.l, fn)
		walkPaths(t.r, fn)
	case *negNode:
		walkPaths(t.x, fn)
	}
}

// assignSlots gives every path that the WHERE clause still reads more than
// once a shared cache slot, so each is looked up once per row.
func assignSlots(q *Query) {
	var paths []*pathNode
	walkPaths(q.where, func(p *pathNode) { paths = append(paths, p) })
	count := map[string]int{}
	for _, n := range paths {
		count[pathKey(n.segs)]++
	}
	slots := map[string]int{}
	for _, n := range paths {
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
