package query

import (
	"fmt"
	"strings"
)

// Expression grammar, loosest first:
//
//	or    := and (OR and)*
//	and   := not (AND not)*
//	not   := NOT not | cmp
//	cmp   := add ((= != <> < <= > >=) add | (IN | NIN) array)*
//	add   := mul ((+ | -) mul)*
//	mul   := unary ((* | / | %) unary)*
//	unary := - unary | primary
func (p *parser) expr() (node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	if !p.peek().is("OR") {
		return first, nil
	}
	xs := []node{first}
	for p.peek().is("OR") {
		p.next()
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return &orNode{xs: xs}, nil
}

func (p *parser) and() (node, error) {
	first, err := p.not()
	if err != nil {
		return nil, err
	}
	if !p.peek().is("AND") {
		return first, nil
	}
	xs := []node{first}
	for p.peek().is("AND") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return &andNode{xs: xs}, nil
}

func (p *parser) not() (node, error) {
	t := p.peek()
	if !t.is("NOT") {
		return p.cmp()
	}
	p.next()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &notNode{x: x}, nil
}

func (p *parser) cmp() (node, error) {
	l, err := p.add()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if op, ok := cmpOps[t.str]; ok && t.kind == tPunct {
			p.next()
			r, err := p.add()
			if err != nil {
				return nil, err
			}
			l = newCmp(op, l, r)
			continue
		}
		if t.is("IN") || t.is("NIN") {
			p.next()
			open, err := p.expectPunct("[")
			if err != nil {
				return nil, errExpected(open, "'[' starting the list after "+strings.ToUpper(t.str))
			}
			list, err := p.arrayItems(open)
			if err != nil {
				return nil, err
			}
			l = newIn(l, list, t.is("NIN"))
			continue
		}
		return l, nil
	}
}

func newCmp(op cmpOp, l, r node) node {
	if pn, ok := l.(*pathNode); ok {
		if lit, ok := r.(*litNode); ok {
			return &cmpPathLit{op: op, p: pn, lit: lit.v}
		}
	}
	if lit, ok := l.(*litNode); ok {
		if pn, ok := r.(*pathNode); ok {
			return &cmpPathLit{op: op.flip(), p: pn, lit: lit.v}
		}
	}
	return &cmpNode{op: op, l: l, r: r}
}

// newIn builds IN/NIN; a list of only strings gets a set so long lists of
// device ids stay cheap.
func newIn(x node, list []val, neg bool) node {
	n := &inNode{x: x, list: list, neg: neg}
	if len(list) > 4 {
		set := make(map[string]struct{}, len(list))
		for _, v := range list {
			if v.k != kStr {
				return n
			}
			set[v.s] = struct{}{}
		}
		n.strs = set
	}
	return n
}

func (p *parser) add() (node, error) {
	l, err := p.mul()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if !t.isPunct("+") && !t.isPunct("-") {
			return l, nil
		}
		p.next()
		r, err := p.mul()
		if err != nil {
			return nil, err
		}
		l = &arithNode{op: t.str[0], l: l, r: r}
	}
}

func (p *parser) mul() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if !t.isPunct("*") && !t.isPunct("/") && !t.isPunct("%") {
			return l, nil
		}
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &arithNode{op: t.str[0], l: l, r: r}
	}
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	if !t.isPunct("-") {
		return p.primary()
	}
	p.next()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	if lit, ok := x.(*litNode); ok && lit.v.k == kNum {
		return &litNode{v: numVal(-lit.v.n)}, nil
	}
	return &negNode{x: x}, nil
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		return &litNode{v: numVal(t.num)}, nil
	case tString:
		return &litNode{v: strVal(t.str)}, nil
	case tPunct:
		switch t.str {
		case "(":
			if err := p.enter(t); err != nil {
				return nil, err
			}
			defer p.leave()
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return x, nil
		case "[":
			items, err := p.arrayItems(t)
			if err != nil {
				return nil, err
			}
			return &litNode{v: arrayVal(items)}, nil
		}
	case tIdent:
		if v, ok := keywordLiteral(t.str); ok {
			return &litNode{v: v}, nil
		}
		if p.peek().isPunct("(") && !isReserved(t.str) {
			return p.call(t)
		}
	}
	segs, err := p.path(t, "an expression")
	if err != nil {
		return nil, err
	}
	return &pathNode{segs: segs, slot: -1}, nil
}

func keywordLiteral(s string) (val, bool) {
	switch strings.ToLower(s) {
	case "true":
		return trueVal, true
	case "false":
		return falseVal, true
	case "null":
		return nullVal, true
	case "undefined":
		return undef, true
	}
	return val{}, false
}

func (p *parser) call(name token) (node, error) {
	if _, ok := aggNames[strings.ToLower(name.str)]; ok {
		return nil, errAt(name.pos, "aggregate %s is only allowed in the select list", strings.ToUpper(name.str))
	}
	fn := lookupFunc(name.str)
	if fn == nil {
		return nil, errAt(name.pos, "unknown function %s", quoteShort(name.str))
	}
	if err := p.enter(name); err != nil {
		return nil, err
	}
	defer p.leave()
	p.next() // '('
	var args []node
	if !p.peek().isPunct(")") {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if !p.peek().isPunct(",") {
				break
			}
			p.next()
		}
	}
	if _, err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	if len(args) < fn.min || (fn.max >= 0 && len(args) > fn.max) {
		return nil, errAt(name.pos, "function %s takes %s, got %d", fn.name, arity(fn), len(args))
	}
	return &callNode{fn: fn, args: args}, nil
}

func arity(fn *funcDef) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case fn.max < 0:
		return "at least " + plural(fn.min)
	case fn.min == fn.max:
		return plural(fn.min)
	}
	return fmt.Sprintf("%d to %d arguments", fn.min, fn.max)
}

// arrayItems parses constants up to the closing ']' of an array literal
// whose '[' is open.
func (p *parser) arrayItems(open token) ([]val, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer p.leave()
	items := []val{}
	if p.peek().isPunct("]") {
		p.next()
		return items, nil
	}
	for {
		v, err := p.constant()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		t := p.next()
		if t.isPunct("]") {
			return items, nil
		}
		if !t.isPunct(",") {
			return nil, errExpected(t, "',' or ']' in the array")
		}
	}
}

func (p *parser) constant() (val, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		return numVal(t.num), nil
	case tString:
		return strVal(t.str), nil
	case tIdent:
		if v, ok := keywordLiteral(t.str); ok {
			return v, nil
		}
	case tEscaped:
		return val{}, errAt(t.pos, "%s @pos is an escaped name, not a constant; write a nested array with spaces, as [ [...] ]", quoteShort(t.raw))
	case tPunct:
		switch t.str {
		case "-":
			if n := p.next(); n.kind == tNumber {
				return numVal(-n.num), nil
			} else {
				return val{}, errExpected(n, "a number after '-'")
			}
		case "[":
			items, err := p.arrayItems(t)
			if err != nil {
				return val{}, err
			}
			return arrayVal(items), nil
		}
	}
	return val{}, errExpected(t, "a constant (string, number, true, false, null, undefined or array)")
}

// arrayVal turns literal items into an array value; undefined items have
// no JSON form and are dropped.
func arrayVal(items []val) val {
	arr := make([]any, 0, len(items))
	for _, v := range items {
		if v.defined() {
			arr = append(arr, v.toAny())
		}
	}
	return val{k: kArr, ref: arr}
}
