package query

import "strings"

// tagKey identifies one (tag path, primitive value) pair. Numbers are keyed
// by value with -0 folded into 0, matching how "=" compares them.
type tagKey struct {
	path string // segments below "tags", joined by NUL
	k    kind
	b    bool
	n    float64
	s    string
}

func newTagKey(path string, v val) tagKey {
	k := tagKey{path: path, k: v.k}
	switch v.k {
	case kBool:
		k.b = v.b
	case kNum:
		k.n = v.n
		if k.n == 0 {
			k.n = 0 // fold -0
		}
	case kStr:
		k.s = v.s
	}
	return k
}

// tagIndex maps every primitive leaf under "tags" to the documents holding
// it, in key order, so "tags.a.b = 'x'" visits only the matching twins.
type tagIndex struct {
	postings map[tagKey]*sortedList[Doc]
	// Scratch for update's leaves, reused from write to write (writers
	// hold the index's lock): every twin loaded or written passes there.
	oldLeaves, newLeaves []tagKey
}

func newTagIndex() *tagIndex {
	return &tagIndex{postings: map[tagKey]*sortedList[Doc]{}}
}

// maxTagDepth bounds the walk; the hub limits nesting to 10 levels, and
// deeper leaves are simply not indexed (queries on them still work: the
// planner only uses the index for paths it can have indexed).
const maxTagDepth = 16

// tagLeaves appends the indexable (path, value) pairs of doc's tags to out.
// Keys that contain NUL are skipped: no query path can name them, and
// skipping them keeps the joined path unambiguous.
func tagLeaves(out []tagKey, doc Doc) []tagKey {
	x, _ := doc.Lookup(tagsPath)
	tags, ok := x.(map[string]any)
	if !ok {
		return out
	}
	var walk func(prefix string, m map[string]any, depth int)
	walk = func(prefix string, m map[string]any, depth int) {
		for k, x := range m {
			if strings.IndexByte(k, 0) >= 0 {
				continue
			}
			path := k
			if prefix != "" {
				path = prefix + "\x00" + k
			}
			if sub, ok := x.(map[string]any); ok {
				if depth < maxTagDepth {
					walk(path, sub, depth+1)
				}
				continue
			}
			if v := fromAny(x); v.k >= kNull && v.k <= kStr {
				out = append(out, newTagKey(path, v))
			}
		}
	}
	walk("", tags, 1)
	return out
}

// SameTagser is a Doc that can tell when another holds the very same tags
// (as the document a write that left the tags alone replaced): the index
// then only points the postings at the new document.
type SameTagser interface {
	SameTags(other Doc) bool
}

// update moves key from the old document's leaves to the new one's.
func (ti *tagIndex) update(key string, old, doc Doc) {
	if st, ok := doc.(SameTagser); ok && old != nil && st.SameTags(old) {
		ti.newLeaves = tagLeaves(ti.newLeaves[:0], doc)
		for _, k := range ti.newLeaves {
			if pl := ti.postings[k]; pl != nil {
				pl.set(key, doc)
			}
		}
		return
	}
	ti.oldLeaves, ti.newLeaves = ti.oldLeaves[:0], ti.newLeaves[:0]
	if old != nil {
		ti.oldLeaves = tagLeaves(ti.oldLeaves, old)
	}
	if doc != nil {
		ti.newLeaves = tagLeaves(ti.newLeaves, doc)
	}
	oldLeaves, newLeaves := ti.oldLeaves, ti.newLeaves
	var keep map[tagKey]bool
	if len(oldLeaves) > 0 {
		keep = make(map[tagKey]bool, len(newLeaves))
		for _, k := range newLeaves {
			keep[k] = true
		}
	}
	for _, k := range oldLeaves {
		if keep[k] {
			continue
		}
		if pl := ti.postings[k]; pl != nil {
			pl.remove(key)
			if pl.len() == 0 {
				delete(ti.postings, k)
			}
		}
	}
	for _, k := range newLeaves {
		pl := ti.postings[k]
		if pl == nil {
			pl = &sortedList[Doc]{}
			ti.postings[k] = pl
		}
		pl.set(key, doc) // also refreshes the document for unchanged leaves
	}
}

// lookup returns the posting list for a hint, or nil when no document has
// that value; ok is false when the index cannot answer the hint.
func (ti *tagIndex) lookup(h *eqHint) (pl *sortedList[Doc], ok bool) {
	if len(h.path) > maxTagDepth {
		return nil, false
	}
	return ti.postings[newTagKey(strings.Join(h.path, "\x00"), h.v)], true
}
