package query

// Collection is what a query reads: FROM devices, FROM devices.modules or
// FROM devices.jobs.
type Collection int

const (
	Devices Collection = iota // device twins, keyed by deviceId
	Modules                   // module twins, keyed by deviceId + "/" + moduleId
	Jobs                      // per-device job rows, keyed by deviceId + "/" + jobId
)

func (c Collection) String() string {
	switch c {
	case Devices:
		return "devices"
	case Modules:
		return "devices.modules"
	case Jobs:
		return "devices.jobs"
	}
	return "unknown"
}

// MaxQueryLength is the longest query text accepted, in characters.
const MaxQueryLength = 8192

// maxDepth bounds parser recursion so hostile input cannot exhaust the stack.
const maxDepth = 64

// Query is a parsed, compiled query. It is immutable and safe to execute
// from many goroutines at once.
type Query struct {
	text    string
	hash    uint64 // binds continuation tokens to this query
	coll    Collection
	top     int // -1 when there is no TOP
	star    bool
	elems   []element
	where   node // nil when there is no WHERE
	groupBy [][]string
	grouped bool // aggregates or GROUP BY: rows are computed, then paged by offset
	nslots  int  // cache slots for paths the WHERE clause reads more than once
	hint    *eqHint
}

// Collection is the collection named in FROM.
func (q *Query) Collection() Collection { return q.coll }

// String returns the query text as given to Parse.
func (q *Query) String() string { return q.text }

type aggKind uint8

const (
	aggNone aggKind = iota
	aggCount
	aggSum
	aggAvg
	aggMin
	aggMax
)

var aggNames = map[string]aggKind{"count": aggCount, "sum": aggSum, "avg": aggAvg, "min": aggMin, "max": aggMax}

// element is one item of the select list.
type element struct {
	name  string   // key in the result row
	path  []string // the selected path, or the aggregate's argument
	agg   aggKind
	group int // for a plain path in a grouped query: index into groupBy
	pos   int
}

// eqHint is a WHERE conjunct "tags.<path> = literal" that an equality index
// can answer; the full condition is still evaluated on every candidate.
type eqHint struct {
	path []string
	v    val
}

// Match reports whether doc satisfies the query's WHERE clause (every
// document does when there is none), as Execute would decide it: for
// conditions evaluated one document at a time (configurations' target
// conditions).
func (q *Query) Match(doc Doc) bool {
	if q.where == nil {
		return true
	}
	r := newRow(q.nslots)
	r.reset(doc)
	v := q.where.eval(r)
	return v.k == kBool && v.b
}
