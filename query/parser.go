package query

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode/utf8"
)

// Parse parses and compiles query text. Every error is an *Error carrying
// the 1-based character position of the problem.
func Parse(text string) (*Query, error) { return parse(text, true) }

// parse lets tests compare optimized and literal evaluation trees.
func parse(text string, optimized bool) (*Query, error) {
	if n := utf8.RuneCountInString(text); n > MaxQueryLength {
		return nil, &Error{
			Position: MaxQueryLength + 1,
			Message:  fmt.Sprintf("query is %d characters long; the limit is %d", n, MaxQueryLength),
		}
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, literal: !optimized}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	q.text = text
	h := fnv.New64a()
	h.Write([]byte(text))
	q.hash = h.Sum64()
	return q, nil
}

type parser struct {
	literal bool // skip rewriting the WHERE tree
	toks    []token
	i       int
	depth   int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) expectKeyword(kw string) error {
	if t := p.next(); !t.is(kw) {
		return errExpected(t, kw)
	}
	return nil
}

func (p *parser) expectPunct(op string) (token, error) {
	t := p.next()
	if !t.isPunct(op) {
		return t, errExpected(t, "'"+op+"'")
	}
	return t, nil
}

// enter guards recursion depth.
func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(t.pos, "expression is nested too deeply (limit %d)", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) query() (*Query, error) {
	q := &Query{top: -1}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	if p.peek().is("TOP") {
		p.next()
		t := p.next()
		if t.kind != tNumber || t.num != math.Trunc(t.num) || t.num < 0 || t.num > math.MaxInt32 {
			return nil, errExpected(t, "a whole number after TOP")
		}
		q.top = int(t.num)
	}
	if p.peek().isPunct("*") {
		p.next()
		q.star = true
	} else {
		for {
			e, err := p.element()
			if err != nil {
				return nil, err
			}
			q.elems = append(q.elems, e)
			if !p.peek().isPunct(",") {
				break
			}
			p.next()
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	coll, err := p.collection()
	if err != nil {
		return nil, err
	}
	q.coll = coll
	if p.peek().is("WHERE") {
		p.next()
		w, err := p.expr()
		if err != nil {
			return nil, err
		}
		q.where = w
	}
	groupTok := p.peek()
	if groupTok.is("GROUP") {
		p.next()
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			t := p.next()
			segs, err := p.path(t, "an attribute path")
			if err != nil {
				return nil, err
			}
			q.groupBy = append(q.groupBy, segs)
			if !p.peek().isPunct(",") {
				break
			}
			p.next()
		}
	}
	if t := p.peek(); t.kind != tEOF {
		want := "end of query"
		switch {
		case q.groupBy == nil && q.where == nil:
			want = "WHERE, GROUP BY or end of query"
		case q.groupBy == nil:
			want = "an operator, GROUP BY or end of query"
		}
		return nil, errExpected(t, want)
	}
	if err := p.resolve(q, groupTok); err != nil {
		return nil, err
	}
	q.hint = findEqHint(q.where)
	if q.where != nil {
		if !p.literal {
			q.where = optimize(q.where)
		}
		assignSlots(q)
	}
	return q, nil
}

func (p *parser) collection() (Collection, error) {
	t := p.next()
	if !t.is("devices") {
		return 0, errExpected(t, "devices, devices.modules or devices.jobs")
	}
	if !p.peek().isPunct(".") {
		return Devices, nil
	}
	p.next()
	sub := p.next()
	switch {
	case sub.is("modules"):
		return Modules, nil
	case sub.is("jobs"):
		return Jobs, nil
	}
	return 0, errExpected(sub, "modules or jobs after 'devices.'")
}

// element parses one select-list item: an attribute path or an aggregate,
// with an optional alias.
func (p *parser) element() (element, error) {
	t := p.next()
	e := element{pos: t.pos, group: -1}
	if agg, ok := aggNames[strings.ToLower(t.str)]; ok && t.kind == tIdent && p.peek().isPunct("(") {
		p.next()
		e.agg = agg
		if agg != aggCount {
			segs, err := p.path(p.next(), "an attribute path as the argument of "+strings.ToUpper(t.str))
			if err != nil {
				return e, err
			}
			e.path = segs
		}
		if c := p.next(); !c.isPunct(")") {
			if agg == aggCount {
				return e, errAt(c.pos, "unexpected %s @pos, expected ')': COUNT takes no arguments", c.describe())
			}
			return e, errExpected(c, "')'")
		}
	} else {
		if t.kind == tIdent && p.peek().isPunct("(") && !isReserved(t.str) {
			return e, errAt(t.pos, "cannot select function %s @pos; select attribute paths or aggregates (COUNT, SUM, AVG, MIN, MAX)", quoteShort(t.str))
		}
		segs, err := p.path(t, "'*' or a select element")
		if err != nil {
			return e, err
		}
		e.path = segs
	}
	if p.peek().is("AS") {
		p.next()
		a := p.next()
		switch {
		case a.kind == tEscaped, a.kind == tIdent && !isReserved(a.str):
			e.name = a.str
		default:
			return e, errExpected(a, "an alias after AS")
		}
	}
	return e, nil
}

// path parses an attribute path whose first token has been consumed.
func (p *parser) path(first token, want string) ([]string, error) {
	switch {
	case first.kind == tEscaped:
	case first.kind == tIdent && !isReserved(first.str):
	default:
		return nil, errExpected(first, want)
	}
	segs := []string{first.str}
	for p.peek().isPunct(".") {
		p.next()
		t := p.next()
		switch {
		case t.kind == tEscaped:
		case t.kind == tIdent && isReserved(t.str):
			return nil, errAt(t.pos, "reserved word %s @pos cannot be a path segment; escape it as [[%s]]", quoteShort(t.str), t.str)
		case t.kind == tIdent:
		default:
			return nil, errExpected(t, "a property name after '.'")
		}
		segs = append(segs, t.str)
	}
	canonicalize(segs)
	return segs, nil
}
