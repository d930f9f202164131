package twin

import "time"

// Build is the twin of a new identity created at now with these sections
// (nil: none), each checked as a body's would be: what a bulk create gives
// each identity, and what a bulk load checks its documents with.
func Build(now time.Time, tags, desired, reported map[string]any) (*Twin, error) {
	t := New(now)
	if tags != nil || desired != nil {
		u, err := NewServiceUpdate(tags, desired)
		if err != nil {
			return nil, err
		}
		if t, _, err = t.Replaced(u, now); err != nil {
			return nil, err
		}
	}
	if len(reported) > 0 {
		var err error
		if t, err = t.PatchedReportedValues(reported, now); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Restamped is a copy of t with every $lastUpdated at now: a twin Build
// made, checked ahead of time, as if it had been built at now.
func (t *Twin) Restamped(now time.Time) *Twin {
	c := t.Clone()
	at := stampTime(now)
	c.desired.root.restamp(at)
	c.reported.root.restamp(at)
	return c
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
