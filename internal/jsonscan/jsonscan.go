// Package jsonscan reads JSON documents of a known shape without
// reflection: the stored forms a start decodes by the hundred thousand.
// A Scanner never guesses: anything it does not read exactly as
// encoding/json would (escapes in keys, invalid UTF-8, numbers out of
// range) marks it failed, and its caller falls back to encoding/json.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
)

// New returns a Scanner at the start of b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Failed reports whether the scanner met anything it does not read.
func (s *Scanner) Failed() bool { return s.failed }

// End reports whether nothing but white space is left.
func (s *Scanner) End() bool {
	s.ws()
	return s.i >= len(s.b)
}

// Int reads an integer as encoding/json reads one into an int64.
func (s *Scanner) Int() int64 {
	v, err := strconv.ParseInt(string(s.Number()), 10, 64)
	if err != nil {
		s.Fail()
	}
	return v
}

// OptString reads a string or null (nil).
func (s *Scanner) OptString() *string {
	if s.Peek() == 'n' {
		s.Literal("null", nil)
		return nil
	}
	v := s.String()
	return &v
}

// Bool reads true or false.
func (s *Scanner) Bool() bool {
	if s.Peek() == 't' {
		s.Literal("true", nil)
		return true
	}
	s.Literal("false", nil)
	return false
}

// Null reads a null if one is next, and reports whether it did.
func (s *Scanner) Null() bool {
	if s.Peek() != 'n' {
		return false
	}
	s.Literal("null", nil)
	return true
}

// Scanner is a position in one document; any surprise marks it failed,
// and its caller falls back.
type Scanner struct {
	b      []byte
	i      int
	failed bool
}

// Fail marks the scanner failed.
func (s *Scanner) Fail() { s.failed = true }

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek returns the next significant byte, 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// Expect reads the byte c.
func (s *Scanner) Expect(c byte) {
	if s.Peek() != c {
		s.Fail()
		return
	}
	s.i++
}

// RawString returns the bytes of a string without escapes or non-ASCII
// bytes; anything else fails, and the caller falls back.
func (s *Scanner) RawString() []byte {
	b, ok := s.PlainString()
	if !ok {
		s.Fail()
	}
	return b
}

// PlainString reads a string of printable ASCII without escapes, whose
// bytes are its value, and returns them (valid until the input changes);
// for any other string, or no string, it returns false and reads nothing,
// so that the caller can read it with String.
func (s *Scanner) PlainString() ([]byte, bool) {
	if s.Peek() != '"' {
		return nil, false
	}
	rest := s.b[s.i+1:]
	n := plainRun(rest)
	if n == len(rest) || rest[n] != '"' {
		return nil, false
	}
	s.i += n + 2
	return rest[:n], true
}

// Eight bytes at a time: lo8 has 1 in every byte, hi8 the top bit.
const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// plainRun returns how many bytes at the start of b are printable ASCII
// other than '"' and '\\'. It tests a word of eight at a time while none
// of them is anything else (a start reads millions of timestamps and
// names), then finds the first that is one by one.
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^('"'*lo8), x^('\\'*lo8)
		// Each term is nonzero exactly when some byte is, in order: 0x80
		// or above, below 0x20, a quote, a backslash.
		if x&hi8|(x-0x20*lo8)&^x&hi8|(q-lo8)&^q&hi8|(bs-lo8)&^bs&hi8 != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// TakeString reads the string value whose bytes are lit, when that is
// what comes next, and reports whether it did; otherwise it reads
// nothing. lit must be plain (as PlainString returns them): a caller that
// expects the value it read last compares it without scanning it first.
func (s *Scanner) TakeString(lit []byte) bool {
	s.ws()
	end := s.i + len(lit) + 2
	if end > len(s.b) || s.b[s.i] != '"' || s.b[end-1] != '"' || !bytes.Equal(s.b[s.i+1:end-1], lit) {
		return false
	}
	s.i = end
	return true
}

// String reads a string value: plain ones directly, others through
// encoding/json so that escapes and invalid UTF-8 read exactly as they would
// there.
func (s *Scanner) String() string {
	if s.Peek() != '"' {
		s.Fail()
		return ""
	}
	start := s.i
	s.i++
	plain := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if plain {
				return string(s.b[start+1 : s.i-1])
			}
			var v string
			if json.Unmarshal(s.b[start:s.i], &v) != nil {
				s.Fail()
			}
			return v
		case c == '\\':
			plain = false
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			s.Fail()
			return ""
		case c >= 0x80:
			plain = false
		}
		s.i++
	}
	s.Fail()
	return ""
}

// Number returns the text of a JSON number.
func (s *Scanner) Number() []byte {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	intStart := s.i
	if n := digits(); n == 0 || (n > 1 && s.b[intStart] == '0') {
		s.Fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			s.Fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			s.Fail()
			return nil
		}
	}
	return s.b[start:s.i]
}

// Float reads a number as encoding/json reads one into an interface.
func (s *Scanner) Float() float64 {
	f, err := strconv.ParseFloat(string(s.Number()), 64)
	if err != nil {
		s.Fail()
	}
	return f
}

// Literal reads word (true, false, null) and returns v.
func (s *Scanner) Literal(word string, v any) any {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.Fail()
		return nil
	}
	s.i += len(word)
	return v
}

// Skip passes over any JSON value, returning its bytes. It finds where
// the value ends without decoding its strings (which would allocate each
// one): callers hand what it returns to a parser, or compare it with bytes
// one already read.
func (s *Scanner) Skip() []byte { return s.skip(false) }

// skip is Skip; with decode it passes over strings with String, as Skip
// once did, so that a test can check one against the other.
func (s *Scanner) skip(decode bool) []byte {
	s.ws()
	start := s.i
	depth := 0
	for s.i < len(s.b) && !s.failed {
		switch c := s.b[s.i]; c {
		case '"':
			if decode {
				_ = s.String()
			} else {
				s.skipString()
			}
		case '[', '{':
			depth++
			s.i++
		case ']', '}':
			depth--
			s.i++
		default:
			s.i++
		}
		if s.failed {
			return nil
		}
		if depth == 0 {
			return s.b[start:s.i]
		}
		if depth < 0 {
			s.Fail()
		}
	}
	s.Fail()
	return nil
}

// skipString passes over a string, ending where String would end it.
func (s *Scanner) skipString() {
	for s.i++; s.i < len(s.b); s.i++ {
		if s.i += plainRun(s.b[s.i:]); s.i == len(s.b) {
			break
		}
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return
		case c == '\\':
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			s.Fail()
			return
		}
	}
	s.i = len(s.b) // past a final backslash
	s.Fail()
}

// Object calls member for each member of an object, in order, with the
// scan at the member's value; member must consume it.
func (s *Scanner) Object(member func(key []byte)) {
	s.Expect('{')
	if s.failed {
		return
	}
	if s.Peek() == '}' {
		s.i++
		return
	}
	for !s.failed {
		k := s.RawString()
		s.Expect(':')
		if s.failed {
			return
		}
		member(k)
		if s.Peek() == ',' {
			s.i++
			continue
		}
		s.Expect('}')
		return
	}
}

// Seen records which members of an object were read, by the caller's
// numbering (0 to 63), so that a duplicate fails the scan: encoding/json
// would keep the last, and the caller falls back to it.
type Seen uint64

// Once marks member i read, failing the scan if it was already.
func (s *Scanner) Once(seen *Seen, i int) {
	if *seen&(1<<i) != 0 {
		s.Fail()
	}
	*seen |= 1 << i
}

// Has reports whether member i was read.
func (seen Seen) Has(i int) bool { return seen&(1<<i) != 0 }

// Names numbers the members an object may have, for Member.
type Names map[string]int

// NewNames numbers names in order.
func NewNames(names ...string) Names {
	n := make(Names, len(names))
	for i, name := range names {
		n[name] = i
	}
	return n
}

// Member marks the member k read and reports whether it is one of names,
// read for the first time; otherwise it fails the scan.
func (s *Scanner) Member(names Names, seen *Seen, k []byte) bool {
	i, ok := names[string(k)]
	if !ok || seen.Has(i) {
		s.Fail()
		return false
	}
	s.Once(seen, i)
	return true
}
