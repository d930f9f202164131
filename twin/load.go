package twin

import (
	"encoding/json"
	"math"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonscan"
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
	// strs holds short string values as interfaces, boxed once: a fleet's
	// values repeat (modes, regions, firmware versions), and a twin that
	// shares them costs neither the bytes nor the box.
	strs map[string]any
	objs map[string]map[string]any // small objects by their stored bytes
	// prevNames are the names name returned while reading the twin
	// before, in order, and curNames those of this one so far: a fleet's
	// twins mostly have the same members in the same order, so the name
	// at the same place is usually the one, found with no lookup.
	prevNames, curNames []string
	// lastStamp is the last $lastUpdated read in the encoder's layout, as
	// stored, and lastTicks its time: every member one patch wrote
	// carries the same timestamp, so most of a twin's repeat the one
	// before.
	lastStamp []byte
	lastTicks ticks
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

// maxInterned bounds the names, and the string values, a Loader shares
// between twins; maxInternedLen is the longest value it shares.
const (
	maxInterned    = 4096
	maxInternedLen = 64
	// maxSharedObject is the longest stored object a Loader shares.
	maxSharedObject = 512
)

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

// value is any JSON value as encoding/json decodes it into an interface;
// objects fail on duplicate members, which encoding/json would resolve.
func value(s *jsonscan.Scanner, l *Loader) any {
	switch s.Peek() {
	case '"':
		return l.str(s)
	case '{':
		return l.object(s)
	case '[':
		raw := s.Skip()
		var v any
		if s.Failed() || json.Unmarshal(raw, &v) != nil {
			s.Fail()
		}
		return v
	case 't':
		return s.Literal("true", true)
	case 'f':
		return s.Literal("false", false)
	case 'n':
		return s.Literal("null", nil)
	default:
		return s.Float()
	}
}

// object reads an object (only tags hold objects as values). A small one is
// shared with the earlier twins whose stored bytes for it are the same:
// the encoder writes an object's members in order, so equal objects are
// written alike, and a fleet's tags repeat, whole or in part (a location,
// a group of settings). Sharing is safe because nothing modifies a twin's
// tags in place: a tag write copies them, deeply, first.
func (l *Loader) object(s *jsonscan.Scanner) any {
	raw := s.Skip()
	if s.Failed() {
		return nil
	}
	share := len(raw) <= maxSharedObject
	if share {
		if m, ok := l.objs[string(raw)]; ok {
			return m
		}
	}
	sub := jsonscan.New(raw)
	m := map[string]any{}
	sub.Object(func(k []byte) {
		name := l.name(k)
		if _, dup := m[name]; dup {
			sub.Fail()
		}
		m[name] = value(sub, l)
	})
	if sub.Failed() || !sub.End() {
		s.Fail()
		return nil
	}
	if share && len(l.objs) < maxInterned {
		if l.objs == nil {
			l.objs = map[string]map[string]any{}
		}
		l.objs[string(raw)] = m
	}
	return m
}

// str reads a string value, shared with earlier twins if it is short.
func (l *Loader) str(s *jsonscan.Scanner) any {
	b, ok := s.PlainString()
	if !ok {
		return s.String()
	}
	if len(b) > maxInternedLen {
		return string(b)
	}
	if v, ok := l.strs[string(b)]; ok {
		return v
	}
	v := any(string(b))
	if l.strs == nil {
		l.strs = map[string]any{}
	}
	if len(l.strs) < maxInterned {
		l.strs[v.(string)] = v
	}
	return v
}

// timestamp reads a $lastUpdated: the layout the encoder writes directly,
// anything else through the time package.
func (l *Loader) timestamp(s *jsonscan.Scanner) (ticks, bool) {
	if len(l.lastStamp) > 0 && s.TakeString(l.lastStamp) {
		return l.lastTicks, true
	}
	if b, ok := s.PlainString(); ok {
		if t, ok := parseTime(b); ok {
			l.lastStamp, l.lastTicks = append(l.lastStamp[:0], b...), t
			return t, true
		}
		at, err := time.Parse(time.RFC3339Nano, string(b))
		return toTicks(at), err == nil
	}
	at, err := time.Parse(time.RFC3339Nano, s.String())
	return toTicks(at), err == nil
}

// name returns k as a string shared with earlier twins.
func (l *Loader) name(k []byte) string {
	if i := len(l.curNames); i < len(l.prevNames) && l.prevNames[i] == string(k) {
		n := l.prevNames[i]
		l.curNames = append(l.curNames, n)
		return n
	}
	n, ok := l.names[string(k)]
	if !ok {
		n = string(k)
		if l.names == nil {
			l.names = map[string]string{}
		}
		if len(l.names) < maxInterned {
			l.names[n] = n
		}
	}
	l.curNames = append(l.curNames, n)
	return n
}

func (l *Loader) load(b []byte) (*Twin, bool) {
	l.metas, l.kids, l.stack = l.metas[:0], l.kids[:0], l.stack[:0]
	l.prevNames, l.curNames = l.curNames, l.prevNames[:0]
	s := jsonscan.New(b)
	t := &Twin{}
	var seen jsonscan.Seen // version, etag, tags, properties
	s.Object(func(k []byte) {
		switch string(k) {
		case "version":
			s.Once(&seen, 0)
			t.version = s.Int()
		case "etag":
			s.Once(&seen, 1)
			etag, ok := parseETag(s.String())
			if !ok {
				s.Fail()
			}
			t.etag = etag
		case "tags":
			s.Once(&seen, 2)
			tags, ok := value(s, l).(map[string]any)
			if !ok || nullAt(tags) != nil {
				s.Fail()
			}
			t.tags = tags
		case "properties":
			s.Once(&seen, 3)
			var got jsonscan.Seen
			s.Object(func(k []byte) {
				switch string(k) {
				case "desired":
					s.Once(&got, 0)
					t.desired = l.section(s, true)
				case "reported":
					s.Once(&got, 1)
					t.reported = l.section(s, false)
				default:
					s.Fail()
				}
			})
			if !got.Has(0) || !got.Has(1) {
				s.Fail()
			}
		default:
			s.Fail()
		}
	})
	if !s.End() || !seen.Has(0) || !seen.Has(1) || !seen.Has(3) || s.Failed() {
		return nil, false
	}
	if t.tags == nil {
		t.tags = map[string]any{}
	}
	return t, true
}

// section reads a desired or reported section whose $metadata comes before
// its values, as MarshalJSON writes it.
func (l *Loader) section(s *jsonscan.Scanner, desired bool) section {
	var sec section
	meta, haveMeta, haveVersion := int32(-1), false, false
	var root node
	s.Object(func(k []byte) {
		switch {
		case string(k) == "$metadata":
			if haveMeta {
				s.Fail()
			}
			haveMeta = true
			meta = l.meta(s)
		case string(k) == "$version":
			if haveVersion {
				s.Fail()
			}
			haveVersion = true
			f := s.Float()
			if f != math.Trunc(f) || f < 0 || f > MaxInteger {
				s.Fail()
			}
			sec.version = int64(f)
		case len(k) > 0 && k[0] == '$', !haveMeta:
			s.Fail()
		case root.children == nil:
			// The first value: $metadata, read already, tells how many.
			root.children = make([]member, 0, l.metas[meta].end-l.metas[meta].start)
			fallthrough
		default:
			child, name, ok := l.kid(meta, k)
			if !ok {
				s.Fail()
				return
			}
			n := l.node(s, child, desired)
			root.children = append(root.children, member{name: name, node: n})
		}
	})
	if !haveMeta || !haveVersion || s.Failed() {
		s.Fail()
		return sec
	}
	if root.children == nil {
		root.children = []member{}
	}
	sortMembers(root.children)
	for i := 1; i < len(root.children); i++ {
		if root.children[i].name == root.children[i-1].name {
			s.Fail()
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
func (l *Loader) node(s *jsonscan.Scanner, meta int32, desired bool) node {
	var n node
	l.stampNode(&n, meta, desired)
	if s.Peek() != '{' {
		v := value(s, l)
		if v == nil {
			s.Fail() // nulls are never stored
		}
		n.value = v
		return n
	}
	n.children = make([]member, 0, l.metas[meta].end-l.metas[meta].start)
	s.Object(func(k []byte) {
		child, name, ok := l.kid(meta, k)
		if !ok {
			s.Fail()
			return
		}
		n.children = append(n.children, member{name: name, node: l.node(s, child, desired)})
	})
	sortMembers(n.children)
	for i := 1; i < len(n.children); i++ {
		if n.children[i].name == n.children[i-1].name {
			s.Fail()
		}
	}
	return n
}

// kid finds the metadata of the member named k under l.metas[meta], and
// returns it with the member's name as $metadata had it: the same string,
// with no lookup of its own.
func (l *Loader) kid(meta int32, k []byte) (int32, string, bool) {
	if meta < 0 {
		return 0, "", false
	}
	m := l.metas[meta]
	for _, kid := range l.kids[m.start:m.end] {
		if kid.name == string(k) {
			return kid.meta, kid.name, true
		}
	}
	return 0, "", false
}

// meta reads a $metadata object into l.metas and returns its index.
func (l *Loader) meta(s *jsonscan.Scanner) int32 {
	idx := int32(len(l.metas))
	l.metas = append(l.metas, metaNode{})
	var m metaNode
	haveUpdated := false
	base := len(l.stack)
	s.Object(func(k []byte) {
		switch string(k) {
		case "$lastUpdated":
			if haveUpdated {
				s.Fail()
			}
			haveUpdated = true
			var ok bool
			if m.updated, ok = l.timestamp(s); !ok {
				s.Fail()
			}
		case "$lastUpdatedVersion":
			if m.hasVersion {
				s.Fail()
			}
			m.hasVersion = true
			f := s.Float()
			if f != math.Trunc(f) || f < 0 || f > MaxInteger {
				s.Fail()
			}
			m.version = int64(f)
		default:
			if s.Peek() != '{' {
				s.Fail()
				return
			}
			name := l.name(k)
			for _, k := range l.stack[base:] {
				if k.name == name {
					s.Fail()
				}
			}
			child := l.meta(s)
			l.stack = append(l.stack, metaKid{name: name, meta: child})
		}
	})
	if !haveUpdated {
		s.Fail()
	}
	m.start = int32(len(l.kids))
	l.kids = append(l.kids, l.stack[base:]...)
	m.end = int32(len(l.kids))
	l.stack = l.stack[:base]
	l.metas[idx] = m
	return idx
}
