package twin

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Loader decodes stored twins (the form MarshalJSON writes) without
// reflection or intermediate maps: a start decodes every twin of the fleet,
// and going through encoding/json into generic maps first is most of a
// start's time and garbage.
//
// It handles the form MarshalJSON writes; anything else (other member
// orders, escapes in keys, duplicate members, out-of-range numbers) falls
// back to UnmarshalJSON, so that both accept and produce exactly the same
// twins. A Loader is not safe for concurrent use; one per goroutine reuses
// its scratch space and the member names it has seen.
type Loader struct {
	metas []metaNode
	kids  []metaKid
	stack []metaKid
	names map[string]string
}

// metaNode is one object of a stored $metadata tree; its members are
// kids[start:end].
type metaNode struct {
	updated    ticks
	version    int64
	hasVersion bool
	start, end int32
}

type metaKid struct {
	name string
	meta int32
}

// maxInterned bounds the names a Loader shares between twins.
const maxInterned = 4096

// Load decodes one stored twin.
func (l *Loader) Load(b []byte) (*Twin, error) {
	if t, ok := l.load(b); ok {
		return t, nil
	}
	t := new(Twin)
	if err := t.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return t, nil
}

// scan is the fast path's position in one document; any surprise sets
// failed, and the caller falls back.
type scan struct {
	b      []byte
	i      int
	failed bool
}

func (s *scan) fail() { s.failed = true }

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next significant byte, 0 at the end.
func (s *scan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scan) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.i++
}

// rawString returns the bytes of a string without escapes or non-ASCII
// bytes; anything else fails, and the caller falls back.
func (s *scan) rawString() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return out
		case c < 0x20 || c >= 0x80 || c == '\\':
			s.fail()
			return nil
		}
		s.i++
	}
	s.fail()
	return nil
}

// stringValue is a string value: plain ones directly, others through
// encoding/json so that escapes and invalid UTF-8 read exactly as they would
// there.
func (s *scan) stringValue() string {
	if s.peek() != '"' {
		s.fail()
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
				s.fail()
			}
			return v
		case c == '\\':
			plain = false
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			s.fail()
			return ""
		case c >= 0x80:
			plain = false
		}
		s.i++
	}
	s.fail()
	return ""
}

// number returns the text of a JSON number.
func (s *scan) number() []byte {
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
		s.fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	return s.b[start:s.i]
}

func (s *scan) float() float64 {
	f, err := strconv.ParseFloat(string(s.number()), 64)
	if err != nil {
		s.fail()
	}
	return f
}

func (s *scan) literal(word string, v any) any {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.fail()
		return nil
	}
	s.i += len(word)
	return v
}

// skip passes over any JSON value, returning its bytes.
func (s *scan) skip() []byte {
	s.ws()
	start := s.i
	depth := 0
	for s.i < len(s.b) && !s.failed {
		switch c := s.b[s.i]; c {
		case '"':
			s.stringValue()
		case '[', '{':
			depth++
			s.i++
		case ']', '}':
			depth--
			s.i++
		default:
			s.i++
		}
		if depth == 0 {
			return s.b[start:s.i]
		}
		if depth < 0 {
			s.fail()
		}
	}
	s.fail()
	return nil
}

// value is any JSON value as encoding/json decodes it into an interface;
// objects fail on duplicate members, which encoding/json would resolve.
func (s *scan) value(l *Loader) any {
	switch s.peek() {
	case '"':
		return s.stringValue()
	case '{':
		s.i++
		m := map[string]any{}
		if s.peek() == '}' {
			s.i++
			return m
		}
		for !s.failed {
			k := l.name(s.rawString())
			s.expect(':')
			if _, dup := m[k]; dup {
				s.fail()
			}
			m[k] = s.value(l)
			if s.peek() == ',' {
				s.i++
				continue
			}
			s.expect('}')
			break
		}
		return m
	case '[':
		raw := s.skip()
		var v any
		if s.failed || json.Unmarshal(raw, &v) != nil {
			s.fail()
		}
		return v
	case 't':
		return s.literal("true", true)
	case 'f':
		return s.literal("false", false)
	case 'n':
		return s.literal("null", nil)
	default:
		return s.float()
	}
}

// object calls member for each member of an object, in order, with the
// scan at the member's value; member must consume it.
func (s *scan) object(member func(key []byte)) {
	s.expect('{')
	if s.failed {
		return
	}
	if s.peek() == '}' {
		s.i++
		return
	}
	for !s.failed {
		k := s.rawString()
		s.expect(':')
		if s.failed {
			return
		}
		member(k)
		if s.peek() == ',' {
			s.i++
			continue
		}
		s.expect('}')
		return
	}
}

// name returns k as a string shared with earlier twins.
func (l *Loader) name(k []byte) string {
	if n, ok := l.names[string(k)]; ok {
		return n
	}
	n := string(k)
	if l.names == nil {
		l.names = map[string]string{}
	}
	if len(l.names) < maxInterned {
		l.names[n] = n
	}
	return n
}

func (l *Loader) load(b []byte) (*Twin, bool) {
	l.metas, l.kids, l.stack = l.metas[:0], l.kids[:0], l.stack[:0]
	s := &scan{b: b}
	t := &Twin{}
	var seen [4]bool // version, etag, tags, properties
	once := func(i int) {
		if seen[i] {
			s.fail()
		}
		seen[i] = true
	}
	s.object(func(k []byte) {
		switch string(k) {
		case "version":
			once(0)
			v, err := strconv.ParseInt(string(s.number()), 10, 64)
			if err != nil {
				s.fail()
			}
			t.version = v
		case "etag":
			once(1)
			etag, ok := parseETag(s.stringValue())
			if !ok {
				s.fail()
			}
			t.etag = etag
		case "tags":
			once(2)
			tags, ok := s.value(l).(map[string]any)
			if !ok || noNulls(secTags, tags) != nil {
				s.fail()
			}
			t.tags = tags
		case "properties":
			once(3)
			var got [2]bool
			s.object(func(k []byte) {
				switch string(k) {
				case "desired":
					if got[0] {
						s.fail()
					}
					got[0] = true
					t.desired = l.section(s, true)
				case "reported":
					if got[1] {
						s.fail()
					}
					got[1] = true
					t.reported = l.section(s, false)
				default:
					s.fail()
				}
			})
			if !got[0] || !got[1] {
				s.fail()
			}
		default:
			s.fail()
		}
	})
	if s.peek() != 0 || !seen[0] || !seen[1] || !seen[3] || s.failed {
		return nil, false
	}
	if t.tags == nil {
		t.tags = map[string]any{}
	}
	return t, true
}

// section reads a desired or reported section whose $metadata comes before
// its values, as MarshalJSON writes it.
func (l *Loader) section(s *scan, desired bool) section {
	var sec section
	meta, haveMeta, haveVersion := int32(-1), false, false
	root := node{children: []member{}}
	s.object(func(k []byte) {
		switch {
		case string(k) == "$metadata":
			if haveMeta {
				s.fail()
			}
			haveMeta = true
			meta = l.meta(s)
		case string(k) == "$version":
			if haveVersion {
				s.fail()
			}
			haveVersion = true
			f := s.float()
			if f != math.Trunc(f) || f < 0 || f > MaxInteger {
				s.fail()
			}
			sec.version = int64(f)
		case len(k) > 0 && k[0] == '$', !haveMeta:
			s.fail()
		default:
			name := l.name(k)
			child, ok := l.kid(meta, name)
			if !ok {
				s.fail()
				return
			}
			n := l.node(s, child, desired)
			root.children = append(root.children, member{name: name, node: n})
		}
	})
	if !haveMeta || !haveVersion || s.failed {
		s.fail()
		return sec
	}
	sortMembers(root.children)
	for i := 1; i < len(root.children); i++ {
		if root.children[i].name == root.children[i-1].name {
			s.fail()
		}
	}
	l.stampNode(&root, meta, desired)
	sec.root = &root
	return sec
}

func (l *Loader) stampNode(n *node, meta int32, desired bool) {
	m := &l.metas[meta]
	n.updated = m.updated
	if desired && m.hasVersion {
		n.version = m.version
	}
}

// node reads the value of a member whose metadata is l.metas[meta].
func (l *Loader) node(s *scan, meta int32, desired bool) node {
	var n node
	l.stampNode(&n, meta, desired)
	if s.peek() != '{' {
		v := s.value(l)
		if v == nil {
			s.fail() // nulls are never stored
		}
		n.value = v
		return n
	}
	n.children = []member{}
	s.object(func(k []byte) {
		name := l.name(k)
		child, ok := l.kid(meta, name)
		if !ok {
			s.fail()
			return
		}
		n.children = append(n.children, member{name: name, node: l.node(s, child, desired)})
	})
	sortMembers(n.children)
	for i := 1; i < len(n.children); i++ {
		if n.children[i].name == n.children[i-1].name {
			s.fail()
		}
	}
	return n
}

// kid finds the metadata of member name under l.metas[meta].
func (l *Loader) kid(meta int32, name string) (int32, bool) {
	if meta < 0 {
		return 0, false
	}
	m := l.metas[meta]
	for _, k := range l.kids[m.start:m.end] {
		if k.name == name {
			return k.meta, true
		}
	}
	return 0, false
}

// meta reads a $metadata object into l.metas and returns its index.
func (l *Loader) meta(s *scan) int32 {
	idx := int32(len(l.metas))
	l.metas = append(l.metas, metaNode{})
	var m metaNode
	haveUpdated := false
	base := len(l.stack)
	s.object(func(k []byte) {
		switch string(k) {
		case "$lastUpdated":
			if haveUpdated {
				s.fail()
			}
			haveUpdated = true
			at, err := time.Parse(time.RFC3339Nano, s.stringValue())
			if err != nil {
				s.fail()
			}
			m.updated = toTicks(at)
		case "$lastUpdatedVersion":
			if m.hasVersion {
				s.fail()
			}
			m.hasVersion = true
			f := s.float()
			if f != math.Trunc(f) || f < 0 || f > MaxInteger {
				s.fail()
			}
			m.version = int64(f)
		default:
			if s.peek() != '{' {
				s.fail()
				return
			}
			name := l.name(k)
			for _, k := range l.stack[base:] {
				if k.name == name {
					s.fail()
				}
			}
			child := l.meta(s)
			l.stack = append(l.stack, metaKid{name: name, meta: child})
		}
	})
	if !haveUpdated {
		s.fail()
	}
	m.start = int32(len(l.kids))
	l.kids = append(l.kids, l.stack[base:]...)
	m.end = int32(len(l.kids))
	l.stack = l.stack[:base]
	l.metas[idx] = m
	return idx
}
