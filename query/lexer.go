package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF     tokKind = iota
	tIdent           // a bare name or keyword
	tEscaped         // [[name]]: always a name, never a keyword
	tNumber
	tString
	tPunct
)

type token struct {
	kind tokKind
	pos  int     // 1-based character offset of the first character
	raw  string  // source text of the token
	str  string  // name for tIdent/tEscaped, decoded value for tString, operator for tPunct
	num  float64 // value for tNumber
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + shorten(t.raw)
	case tNumber:
		return "number " + quoteShort(t.raw)
	}
	return "token " + quoteShort(t.raw)
}

func quoteShort(s string) string { return "'" + shorten(s) + "'" }

// shorten keeps messages readable when a token is long.
func shorten(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "..."
	}
	return s
}

// is reports whether t is the keyword kw (case-insensitive). Escaped names
// are never keywords: escaping is how a reserved word becomes a name.
func (t token) is(kw string) bool { return t.kind == tIdent && strings.EqualFold(t.str, kw) }

func (t token) isPunct(op string) bool { return t.kind == tPunct && t.str == op }

// lexer turns query text into tokens. Positions count characters (runes),
// because that is what a user counts when reading an error message.
type lexer struct {
	src string
	off int  // byte offset
	pos int  // 1-based rune position of src[off]
	dot bool // previous token was '.', so the next name is a path segment
}

// lex tokenizes all of src; the query length limit bounds the token count.
func lex(src string) ([]token, error) {
	lx := &lexer{src: src, pos: 1}
	var toks []token
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

func (lx *lexer) peekRune(ahead int) rune {
	off := lx.off
	for i := 0; ; i++ {
		if off >= len(lx.src) {
			return -1
		}
		r, n := utf8.DecodeRuneInString(lx.src[off:])
		if i == ahead {
			return r
		}
		off += n
	}
}

func (lx *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
	lx.off += n
	lx.pos++
	return r
}

func isNameStart(r rune) bool { return r == '_' || r == '$' || unicode.IsLetter(r) }
func isNamePart(r rune) bool  { return isNameStart(r) || unicode.IsDigit(r) }

func (lx *lexer) next() (token, error) {
	for lx.off < len(lx.src) {
		r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
		if !unicode.IsSpace(r) {
			break
		}
		lx.off += n
		lx.pos++
	}
	t, err := lx.scan()
	if err != nil {
		return token{}, err
	}
	lx.dot = t.isPunct(".")
	return t, nil
}

func (lx *lexer) scan() (token, error) {
	start, pos := lx.off, lx.pos
	if lx.off >= len(lx.src) {
		return token{kind: tEOF, pos: pos}, nil
	}
	r := lx.peekRune(0)
	switch {
	case r == utf8.RuneError && lx.isInvalidUTF8():
		return token{}, errAt(pos, "invalid UTF-8")
	case lx.dot && isNamePart(r):
		// After a dot any run of name characters is a segment, so tag
		// names such as "1" or "2nd" need no escaping.
		for lx.off < len(lx.src) && isNamePart(lx.peekRune(0)) {
			lx.advance()
		}
		raw := lx.src[start:lx.off]
		return token{kind: tIdent, pos: pos, raw: raw, str: raw}, nil
	case isNameStart(r):
		for lx.off < len(lx.src) && isNamePart(lx.peekRune(0)) {
			lx.advance()
		}
		raw := lx.src[start:lx.off]
		return token{kind: tIdent, pos: pos, raw: raw, str: raw}, nil
	case r >= '0' && r <= '9':
		return lx.number()
	case r == '\'' || r == '"':
		return lx.stringLit()
	case r == '[' && lx.peekRune(1) == '[':
		if t, ok := lx.escapedName(); ok {
			return t, nil
		}
	}
	return lx.punct()
}

func (lx *lexer) isInvalidUTF8() bool {
	_, n := utf8.DecodeRuneInString(lx.src[lx.off:])
	return n <= 1
}

// escapedName lexes [[name]]. It declines (ok=false) when the brackets do
// not enclose a plausible name, so nested array literals such as [['a']]
// still lex as brackets.
func (lx *lexer) escapedName() (token, bool) {
	start, pos := lx.off, lx.pos
	body := lx.src[lx.off+2:]
	end := strings.Index(body, "]]")
	if end <= 0 {
		return token{}, false
	}
	name := body[:end]
	for _, r := range name {
		if r == '[' || r == ']' || r == '\'' || r == '"' || r == '.' || r == ',' ||
			unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return token{}, false
		}
	}
	lx.off = start + 2 + end + 2
	lx.pos = pos + 4 + utf8.RuneCountInString(name)
	return token{kind: tEscaped, pos: pos, raw: lx.src[start:lx.off], str: name}, true
}

var puncts = []string{"<=", ">=", "<>", "!=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", "."}

func (lx *lexer) punct() (token, error) {
	pos := lx.pos
	rest := lx.src[lx.off:]
	for _, p := range puncts {
		if strings.HasPrefix(rest, p) {
			lx.off += len(p)
			lx.pos += len(p)
			return token{kind: tPunct, pos: pos, raw: p, str: p}, nil
		}
	}
	r := lx.peekRune(0)
	return token{}, errAt(pos, "unexpected character %s", quoteShort(string(r)))
}

func (lx *lexer) number() (token, error) {
	start, pos := lx.off, lx.pos
	if lx.peekRune(0) == '0' && (lx.peekRune(1) == 'x' || lx.peekRune(1) == 'X') {
		lx.advance()
		lx.advance()
		digits := lx.off
		for isHexDigit(lx.peekRune(0)) {
			lx.advance()
		}
		raw := lx.src[start:lx.off]
		if lx.off == digits {
			return token{}, errAt(pos, "hexadecimal number %s @pos has no digits", quoteShort(raw))
		}
		if isNamePart(lx.peekRune(0)) {
			return token{}, errAt(pos, "malformed number %s", quoteShort(raw+string(lx.peekRune(0))))
		}
		u, err := strconv.ParseUint(lx.src[digits:lx.off], 16, 64)
		if err != nil {
			return token{}, errAt(pos, "hexadecimal number %s @pos is out of range", quoteShort(raw))
		}
		return token{kind: tNumber, pos: pos, raw: raw, num: float64(u)}, nil
	}
	lx.digits()
	if lx.peekRune(0) == '.' && isDigit(lx.peekRune(1)) {
		lx.advance()
		lx.digits()
	}
	if r := lx.peekRune(0); r == 'e' || r == 'E' {
		save, savePos := lx.off, lx.pos
		lx.advance()
		if r := lx.peekRune(0); r == '+' || r == '-' {
			lx.advance()
		}
		if !isDigit(lx.peekRune(0)) {
			lx.off, lx.pos = save, savePos
			return token{}, errAt(pos, "malformed number %s @pos: the exponent has no digits", quoteShort(lx.src[start:lx.off+1]))
		}
		lx.digits()
	}
	raw := lx.src[start:lx.off]
	if isNameStart(lx.peekRune(0)) {
		return token{}, errAt(pos, "malformed number %s", quoteShort(raw+string(lx.peekRune(0))))
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(f, 0) {
		return token{}, errAt(pos, "number %s @pos is out of range", quoteShort(raw))
	}
	return token{kind: tNumber, pos: pos, raw: raw, num: f}, nil
}

func isDigit(r rune) bool    { return r >= '0' && r <= '9' }
func isHexDigit(r rune) bool { return isDigit(r) || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F') }

func (lx *lexer) digits() {
	for isDigit(lx.peekRune(0)) {
		lx.advance()
	}
}

func (lx *lexer) stringLit() (token, error) {
	start, pos := lx.off, lx.pos
	quote := lx.advance()
	var b strings.Builder
	for {
		if lx.off >= len(lx.src) {
			return token{}, errAt(pos, "unterminated string")
		}
		escPos := lx.pos
		r := lx.advance()
		switch r {
		case quote:
			return token{kind: tString, pos: pos, raw: lx.src[start:lx.off], str: b.String()}, nil
		case '\\':
			if err := lx.escape(&b, escPos); err != nil {
				return token{}, err
			}
		default:
			if r == utf8.RuneError && lx.invalidBefore() {
				return token{}, errAt(escPos, "invalid UTF-8 in string")
			}
			b.WriteRune(r)
		}
	}
}

// invalidBefore reports whether the rune just consumed was a one-byte
// decoding error rather than a literal U+FFFD.
func (lx *lexer) invalidBefore() bool {
	r, n := utf8.DecodeLastRuneInString(lx.src[:lx.off])
	return r == utf8.RuneError && n <= 1
}

var simpleEscapes = map[rune]rune{
	'\'': '\'', '"': '"', '\\': '\\', '/': '/',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

func (lx *lexer) escape(b *strings.Builder, pos int) error {
	if lx.off >= len(lx.src) {
		return errAt(pos, "unterminated string")
	}
	r := lx.advance()
	if e, ok := simpleEscapes[r]; ok {
		b.WriteRune(e)
		return nil
	}
	if r != 'u' {
		return errAt(pos, "invalid escape sequence %s", quoteShort(`\`+string(r)))
	}
	u, err := lx.hex4(pos)
	if err != nil {
		return err
	}
	if utf16IsHigh(u) && strings.HasPrefix(lx.src[lx.off:], `\u`) {
		save, savePos := lx.off, lx.pos
		lx.advance()
		lx.advance()
		lo, err := lx.hex4(savePos)
		if err == nil && utf16IsLow(lo) {
			b.WriteRune(((u - 0xD800) << 10) + (lo - 0xDC00) + 0x10000)
			return nil
		}
		lx.off, lx.pos = save, savePos
	}
	// A lone surrogate has no UTF-8 form; WriteRune turns it into U+FFFD.
	b.WriteRune(u)
	return nil
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func utf16IsLow(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }

func (lx *lexer) hex4(pos int) (rune, error) {
	var u rune
	for i := 0; i < 4; i++ {
		r := lx.peekRune(0)
		if !isHexDigit(r) {
			return 0, errAt(pos, "invalid \\u escape @pos: want 4 hexadecimal digits")
		}
		lx.advance()
		d, _ := strconv.ParseUint(string(r), 16, 8)
		u = u<<4 | rune(d)
	}
	return u, nil
}

// String is for debugging only.
func (t token) String() string { return fmt.Sprintf("%d:%q", t.pos, t.raw) }
