package query

import "sync"

// Index holds the current twin documents of both collections. Writers call
// Put and Delete after each committed write; Execute runs under a read lock
// for the whole page, so it sees one consistent snapshot.
type Index struct {
	mu    sync.RWMutex
	colls [3]*docSet // Devices, Modules, Jobs
}

// docSet is one collection: documents in key order plus the tag equality
// index. Later indexes hang off this struct.
type docSet struct {
	docs sortedList[Doc]
	tags *tagIndex // nil when disabled
}

type indexOptions struct {
	noTagIndex bool // tests and benchmarks compare indexed and plain scans
}

// NewIndex returns an empty index.
func NewIndex() *Index { return newIndex(indexOptions{}) }

func newIndex(o indexOptions) *Index {
	ix := &Index{}
	for i := range ix.colls {
		ds := &docSet{}
		if !o.noTagIndex {
			ds.tags = newTagIndex()
		}
		ix.colls[i] = ds
	}
	return ix
}

func (ix *Index) set(c Collection) *docSet {
	if c < Devices || c > Jobs {
		return nil
	}
	return ix.colls[c]
}

// Put stores doc under key (deviceId, or deviceId+"/"+moduleId), replacing
// any previous document. The index keeps doc and never modifies it; the
// caller must not modify it either. Jobs rows are keyed deviceId + "/" +
// jobId. A nil doc, or an unknown collection, is ignored.
func (ix *Index) Put(c Collection, key string, doc Doc) {
	ds := ix.set(c)
	if ds == nil || doc == nil {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ds.tags != nil {
		old, _ := ds.docs.get(key)
		ds.tags.update(key, old, doc)
	}
	ds.docs.set(key, doc)
}

// Delete removes the document stored under key, if any.
func (ix *Index) Delete(c Collection, key string) {
	ds := ix.set(c)
	if ds == nil {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ds.tags != nil {
		if old, ok := ds.docs.get(key); ok {
			ds.tags.update(key, old, nil)
		}
	}
	ds.docs.remove(key)
}

// Len is the number of documents in the collection.
func (ix *Index) Len(c Collection) int {
	ds := ix.set(c)
	if ds == nil {
		return 0
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ds.docs.len()
}

// Doc is one document of a collection: a twin or a job row. The engine
// reads documents only through Lookup, so that the hub can keep twins in
// its own compact form rather than as generic maps.
type Doc interface {
	// Lookup returns the JSON value at the attribute path (objects as
	// map[string]any, arrays as []any, numbers as float64) and whether the
	// document has one there. path is never empty. The engine never
	// modifies what Lookup returns.
	Lookup(path []string) (any, bool)
}

// MapDoc is a Doc held as decoded JSON.
type MapDoc map[string]any

// Lookup walks path through nested objects.
func (d MapDoc) Lookup(path []string) (any, bool) { return lookup(d, path) }

var tagsPath = []string{"tags"}
