package query

// DefaultPageSize is the page size when the client asks for none.
const DefaultPageSize = 100

// MaxPageSize caps x-ms-max-item-count; larger requests get this many rows.
const MaxPageSize = 1000

// PageOptions carries the paging headers of one query request.
type PageOptions struct {
	MaxItemCount int    // x-ms-max-item-count; 0 (or less) means DefaultPageSize; capped at MaxPageSize
	Continuation string // x-ms-continuation from the previous page; "" for the first
}

// Page is one page of results.
type Page struct {
	Items        []any  // full documents for SELECT *, else map[string]any rows
	ItemType     string // "Twin" for SELECT *, "Raw" otherwise
	Continuation string // "" on the last page
}

// Item types, as sent in x-ms-item-type.
const (
	ItemTypeTwin = "Twin"
	ItemTypeRaw  = "Raw"
	// ItemTypeDeviceJob is SELECT * over devices.jobs.
	ItemTypeDeviceJob = "DeviceJob"
)

func pageSize(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// Execute runs q and returns the page that opts asks for. Errors are *Error
// (an unsupported collection, a bad continuation token). Returned documents
// are shared with the index and must not be modified.
func (ix *Index) Execute(q *Query, opts PageOptions) (Page, error) {
	if q == nil {
		return Page{}, errPlain("no query to execute")
	}
	var c cont
	resume := opts.Continuation != ""
	if resume {
		var err error
		if c, err = decodeToken(q, opts.Continuation); err != nil {
			return Page{}, err
		}
	}
	size := pageSize(opts.MaxItemCount)

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ds := ix.colls[q.coll]
	list, ok := candidates(q, ds)
	if q.grouped {
		if !ok {
			list = nil
		}
		return executeGrouped(q, list, size, c), nil
	}
	page := Page{Items: []any{}, ItemType: ItemTypeRaw}
	if q.star {
		page.ItemType = ItemTypeTwin
		if q.coll == Jobs {
			page.ItemType = ItemTypeDeviceJob
		}
	}
	if !ok {
		return page, nil
	}
	scan(q, list, size, c, resume, &page)
	return page, nil
}

// candidates returns the documents that can match: all of them, or the
// posting list of an equality index when the WHERE clause allows it. ok is
// false when the index proves that nothing matches.
func candidates(q *Query, ds *docSet) (list *sortedList[Doc], ok bool) {
	if q.hint != nil && ds.tags != nil {
		if pl, usable := ds.tags.lookup(q.hint); usable {
			return pl, pl != nil
		}
	}
	return &ds.docs, true
}

// scan fills page with up to size matching rows after the token's key, and
// sets a continuation when at least one more row matches.
func scan(q *Query, list *sortedList[Doc], size int, c cont, resume bool, page *Page) {
	limit := size
	if q.top >= 0 {
		limit = min(limit, q.top-c.returned)
		if limit <= 0 {
			return
		}
	}
	capped := q.top >= 0 && c.returned+limit >= q.top // TOP ends the result at this page
	r := newRow(q.nslots)
	where := q.where
	var last string
	start := list.after(c.key, resume)
	for ci := start.ci; ci < len(list.chunks); ci++ {
		chunk := list.chunks[ci]
		ei := 0
		if ci == start.ci {
			ei = start.ei
		}
		for ; ei < len(chunk); ei++ {
			it := &chunk[ei]
			if where != nil {
				r.reset(it.v)
				if v := where.eval(r); v.k != kBool || !v.b {
					continue
				}
			}
			if len(page.Items) == limit {
				// One more row matches: there is a next page.
				page.Continuation = encodeToken(q, cont{kind: tokScan, returned: c.returned + limit, key: last})
				return
			}
			page.Items = append(page.Items, project(q, it.v))
			last = it.key
			if capped && len(page.Items) == limit {
				return
			}
		}
	}
}

// project builds the result item for one matching document.
func project(q *Query, doc Doc) any {
	if q.star {
		if m, ok := doc.(MapDoc); ok {
			return map[string]any(m)
		}
		return doc
	}
	out := make(map[string]any, len(q.elems))
	for i := range q.elems {
		e := &q.elems[i]
		// A value that is not JSON (only possible in a hand-built document)
		// is undefined, like in WHERE, and so omitted.
		if x, ok := doc.Lookup(e.path); ok && fromAny(x).defined() {
			out[e.name] = x
		}
	}
	return out
}
