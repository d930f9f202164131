package query

import "math"

// row is the evaluation context for one document. Paths that the WHERE
// clause reads more than once are resolved once per row through slots.
type row struct {
	doc   Doc
	gen   uint64
	slots []slot
}

type slot struct {
	gen uint64
	x   any
	ok  bool
}

func newRow(nslots int) *row { return &row{slots: make([]slot, nslots)} }

// reset points the context at the next document; bumping gen invalidates
// every cached slot without touching them.
func (r *row) reset(doc Doc) {
	r.doc = doc
	r.gen++
}

// node is a compiled expression.
type node interface {
	eval(r *row) val
}

type litNode struct{ v val }

func (n *litNode) eval(*row) val { return n.v }

// pathNode reads a pre-split attribute path.
type pathNode struct {
	segs []string
	slot int // -1: not cached
}

func (n *pathNode) eval(r *row) val {
	x, ok := n.raw(r)
	if !ok {
		return undef
	}
	return fromAny(x)
}

// raw returns the document's value at the path, through the row's cache
// when the path is read more than once.
func (n *pathNode) raw(r *row) (any, bool) {
	if n.slot < 0 {
		return r.doc.Lookup(n.segs)
	}
	return n.cached(r)
}

func (n *pathNode) cached(r *row) (any, bool) {
	s := &r.slots[n.slot]
	if s.gen != r.gen {
		s.x, s.ok = r.doc.Lookup(n.segs)
		s.gen = r.gen
	}
	return s.x, s.ok
}

// lookup walks segs through nested objects; ok is false when any step is
// missing or is not an object.
func lookup(doc map[string]any, segs []string) (any, bool) {
	cur := doc
	last := len(segs) - 1
	for i := 0; i < last; i++ {
		m, ok := cur[segs[i]].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m
	}
	x, ok := cur[segs[last]]
	return x, ok
}

type notNode struct{ x node }

func (n *notNode) eval(r *row) val {
	v := n.x.eval(r)
	if v.k != kBool {
		return undef
	}
	return boolVal(!v.b)
}

// andNode and orNode are n-ary so long chains stay shallow; both follow
// three-valued logic, with any non-boolean operand acting as undefined.
type andNode struct{ xs []node }

func (n *andNode) eval(r *row) val {
	res := trueVal
	for _, x := range n.xs {
		v := x.eval(r)
		if v.k == kBool {
			if !v.b {
				return falseVal
			}
			continue
		}
		res = undef
	}
	return res
}

type orNode struct{ xs []node }

func (n *orNode) eval(r *row) val {
	res := falseVal
	for _, x := range n.xs {
		v := x.eval(r)
		if v.k == kBool {
			if v.b {
				return trueVal
			}
			continue
		}
		res = undef
	}
	return res
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{"=": opEq, "!=": opNe, "<>": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

// flip gives the operator that means the same with the operands swapped.
func (op cmpOp) flip() cmpOp {
	switch op {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return op
}

func applyCmp(op cmpOp, a, b val) val {
	c, ok := compare(a, b)
	if !ok {
		return undef
	}
	return cmpResult(op, c)
}

// cmpResult turns a three-way comparison into the operator's answer.
func cmpResult(op cmpOp, c int) val {
	switch op {
	case opEq:
		return boolVal(c == 0)
	case opNe:
		return boolVal(c != 0)
	case opLt:
		return boolVal(c < 0)
	case opLe:
		return boolVal(c <= 0)
	case opGt:
		return boolVal(c > 0)
	}
	return boolVal(c >= 0)
}

type cmpNode struct {
	op   cmpOp
	l, r node
}

func (n *cmpNode) eval(r *row) val { return applyCmp(n.op, n.l.eval(r), n.r.eval(r)) }

// cmpPathLit is the common "path op literal" shape. Strings and float64s,
// which is what decoded JSON holds, are compared straight from the document
// without building a val: scans are memory-bound, and a short instruction
// path per row lets the CPU overlap the next row's loads.
type cmpPathLit struct {
	op  cmpOp
	p   *pathNode
	lit val
}

func (n *cmpPathLit) eval(r *row) val {
	x, ok := n.p.raw(r)
	if !ok {
		return undef
	}
	switch n.lit.k {
	case kStr:
		if s, ok := x.(string); ok {
			return boolVal(ordCmp(n.op, s, n.lit.s))
		}
	case kNum:
		if f, ok := x.(float64); ok {
			return boolVal(ordCmp(n.op, f, n.lit.n))
		}
	}
	return applyCmp(n.op, fromAny(x), n.lit)
}

// cmpRaw compares a document value with a literal.
func cmpRaw(op cmpOp, x any, lit val) val {
	switch lit.k {
	case kStr:
		if s, ok := x.(string); ok {
			return boolVal(ordCmp(op, s, lit.s))
		}
	case kNum:
		if f, ok := x.(float64); ok {
			return boolVal(ordCmp(op, f, lit.n))
		}
	}
	return applyCmp(op, fromAny(x), lit)
}

// ordCmp applies an operator directly to two numbers or two strings;
// keeping it branch-light matters because the scan loop is bound by memory
// latency.
func ordCmp[T float64 | string](op cmpOp, a, b T) bool {
	switch op {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	}
	return a >= b
}

// multiCmp is several ANDed comparisons of one path with literals, such as
// a range "x > 30 AND x < 31": the path is read once for all of them.
type multiCmp struct {
	p       *pathNode
	conds   []pathCond
	litKind kind // the literals' common kind, or kUndef when they differ
}

type pathCond struct {
	op  cmpOp
	lit val
}

func newMultiCmp(p *pathNode, conds []pathCond) *multiCmp {
	m := &multiCmp{p: p, conds: conds, litKind: conds[0].lit.k}
	for _, c := range conds {
		if c.lit.k != m.litKind {
			m.litKind = kUndef
		}
	}
	return m
}

func (n *multiCmp) eval(r *row) val {
	x, ok := n.p.raw(r)
	if !ok {
		return undef
	}
	// Fast paths: a number or string against literals of that type, where
	// every comparison is defined.
	switch n.litKind {
	case kNum:
		if f, ok := x.(float64); ok {
			for _, c := range n.conds {
				if !ordCmp(c.op, f, c.lit.n) {
					return falseVal
				}
			}
			return trueVal
		}
	case kStr:
		if s, ok := x.(string); ok {
			for _, c := range n.conds {
				if !ordCmp(c.op, s, c.lit.s) {
					return falseVal
				}
			}
			return trueVal
		}
	}
	res := trueVal
	for _, c := range n.conds {
		v := cmpRaw(c.op, x, c.lit)
		if v.k == kBool {
			if !v.b {
				return falseVal
			}
			continue
		}
		res = undef
	}
	return res
}

// inNode is IN / NIN over an array literal. A primitive not in the list is
// simply not in it (false), whatever its type; an undefined, object or array
// operand makes the test undefined.
type inNode struct {
	x    node
	list []val
	strs map[string]struct{} // set form when every element is a string
	neg  bool
}

func (n *inNode) eval(r *row) val {
	v := n.x.eval(r)
	switch v.k {
	case kUndef, kObj, kArr:
		return undef
	}
	found := false
	if n.strs != nil {
		if v.k == kStr {
			_, found = n.strs[v.s]
		}
	} else {
		for _, e := range n.list {
			if equalPrimitive(v, e) {
				found = true
				break
			}
		}
	}
	return boolVal(found != n.neg)
}

type arithNode struct {
	op   byte
	l, r node
}

func (n *arithNode) eval(r *row) val {
	a := n.l.eval(r)
	if a.k != kNum {
		return undef
	}
	b := n.r.eval(r)
	if b.k != kNum {
		return undef
	}
	switch n.op {
	case '+':
		return numVal(a.n + b.n)
	case '-':
		return numVal(a.n - b.n)
	case '*':
		return numVal(a.n * b.n)
	case '/':
		if b.n == 0 {
			return undef
		}
		return numVal(a.n / b.n)
	}
	if b.n == 0 {
		return undef
	}
	return numVal(math.Mod(a.n, b.n))
}

type negNode struct{ x node }

func (n *negNode) eval(r *row) val {
	v := n.x.eval(r)
	if v.k != kNum {
		return undef
	}
	return numVal(-v.n)
}

type callNode struct {
	fn   *funcDef
	args []node
}

func (n *callNode) eval(r *row) val { return n.fn.call(n.args, r) }
