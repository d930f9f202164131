package twin

import "time"

// node is one object or leaf of a desired or reported section together with
// the metadata IoT Hub keeps for it. Keeping metadata beside the value (rather
// than in a parallel map) makes it impossible for the two trees to drift:
// deleting a key drops its metadata with it.
type node struct {
	children map[string]*node // non-nil exactly when the node is an object
	value    any              // leaf value: string, float64, bool or []any
	updated  time.Time        // $lastUpdated
	version  int64            // $lastUpdatedVersion (desired only); 0 means none
}

// stamp is what a write records on every node it touches.
type stamp struct {
	at      time.Time
	version int64 // desired $version of the write; 0 for reported
}

// stampTime is now as IoT Hub records it: UTC, 100 ns resolution, so that a
// timestamp survives formatting with TimeFormat and parsing back unchanged.
func stampTime(now time.Time) time.Time {
	return now.UTC().Truncate(100 * time.Nanosecond)
}

func newObject(s stamp) *node {
	return &node{children: map[string]*node{}, updated: s.at, version: s.version}
}

// newTree builds the node for a validated value, stamping every node in it.
// Nulls inside objects mean "absent" and are dropped; arrays are leaves and
// are kept verbatim.
func newTree(v any, s stamp) *node {
	m, ok := v.(map[string]any)
	if !ok {
		return &node{value: copyValue(v), updated: s.at, version: s.version}
	}
	n := newObject(s)
	for k, cv := range m {
		if cv != nil {
			n.children[k] = newTree(cv, s)
		}
	}
	return n
}

// merge applies a validated JSON merge-patch to the object node n: objects
// merge recursively, anything else replaces, null deletes. Every node the
// patch names, and every ancestor of one, takes the stamp; a deletion
// therefore shows in its parent's metadata.
func (n *node) merge(patch map[string]any, s stamp) {
	n.updated, n.version = s.at, s.version
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(n.children, k)
		case map[string]any:
			child := n.children[k]
			if child == nil || child.children == nil {
				child = newObject(s)
				n.children[k] = child
			}
			child.merge(pv, s)
		default:
			n.children[k] = newTree(pv, s)
		}
	}
}

func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := &node{updated: n.updated, version: n.version}
	if n.children == nil {
		c.value = copyValue(n.value)
		return c
	}
	c.children = make(map[string]*node, len(n.children))
	for k, child := range n.children {
		c.children[k] = child.clone()
	}
	return c
}

// plain is the node's JSON value without metadata, as a fresh copy.
func (n *node) plain() any {
	if n.children == nil {
		return copyValue(n.value)
	}
	m := make(map[string]any, len(n.children))
	for k, child := range n.children {
		m[k] = child.plain()
	}
	return m
}

// metadata is the node's $metadata object as IoT Hub renders it.
func (n *node) metadata() map[string]any {
	m := make(map[string]any, len(n.children)+2)
	m["$lastUpdated"] = n.updated.Format(TimeFormat)
	if n.version != 0 {
		m["$lastUpdatedVersion"] = float64(n.version)
	}
	for k, child := range n.children {
		m[k] = child.metadata()
	}
	return m
}

// copyValue deep-copies a JSON value so that no map or slice is shared
// between a twin and its caller or between a twin and its clone.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = copyValue(e)
		}
		return c
	default:
		return v
	}
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = copyValue(v)
	}
	return c
}

// mergePlain is merge for tags, which carry no metadata.
func mergePlain(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			child, ok := dst[k].(map[string]any)
			if !ok {
				child = map[string]any{}
				dst[k] = child
			}
			mergePlain(child, pv)
		default:
			dst[k] = copyValue(pv)
		}
	}
}

// dropNulls returns a copy of m in which null members of objects (at any
// depth, outside arrays) are removed: in a replacement body null means absent.
func dropNulls(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case nil:
		case map[string]any:
			c[k] = dropNulls(x)
		default:
			c[k] = copyValue(x)
		}
	}
	return c
}
