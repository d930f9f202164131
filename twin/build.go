package twin

import "time"

// Build is the twin of a new identity created at now with these sections
// (nil: none), each checked as a body's would be: what a bulk create gives
// each identity, and what a bulk load checks its documents with. The twin
// is the one a service PUT of tags and desired properties, then a
// reported patch, would make of a new twin (with their versions, and the
// same first error for a bad section), built in one pass over each section
// instead of checking and copying it at every step. It never modifies or
// keeps the maps it is given.
func Build(now time.Time, tags, desired, reported map[string]any) (*Twin, error) {
	t := New(now)
	at := stampTime(now)
	if tags != nil || desired != nil {
		if tags != nil {
			c := checker{section: secTags}
			m, err := c.object(tags, 0, false)
			if err != nil {
				return nil, err
			}
			t.tags = m
		}
		if desired != nil {
			t.desired.version++
			c := checker{section: secDesired}
			root, err := c.tree(withoutReadOnly(secDesired, desired), 0, stamp{at: at, version: t.desired.version})
			if err != nil {
				return nil, err
			}
			t.desired.root = &root
		}
		if err := t.checkSizes(tags != nil, desired != nil, false); err != nil {
			return nil, err
		}
		t.written()
	}
	if len(reported) > 0 {
		t.reported.version++
		c := checker{section: secReported}
		root, err := c.tree(reported, 0, stamp{at: at})
		if err != nil {
			return nil, err
		}
		t.reported.root = &root
		if err := t.checkSizes(false, false, true); err != nil {
			return nil, err
		}
		t.written()
	}
	return t, nil
}

// Restamp sets every $lastUpdated of t to now: a twin Build made, checked
// ahead of time, becomes the twin built at now.
func (t *Twin) Restamp(now time.Time) {
	at := stampTime(now)
	t.desired.root.restamp(at)
	t.reported.root.restamp(at)
}

func (n *node) restamp(at ticks) {
	if n == nil {
		return
	}
	n.updated = at
	for i := range n.children {
		n.children[i].restamp(at)
	}
}
