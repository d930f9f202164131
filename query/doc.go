// Package query implements IoT Hub's query language over device and module
// twins: a parser that compiles query text once, an in-memory Index that the
// hub keeps in step with every committed twin write, and paged execution.
//
// The package knows nothing of HTTP, MQTT or storage. Documents are twins in
// their service JSON shape, decoded by encoding/json, and are never modified.
//
// # Language
//
//	SELECT [TOP n] * | element [AS alias], ...
//	FROM devices | devices.modules | devices.jobs
//	[WHERE condition] [GROUP BY path, ...]
//
// An element is an attribute path or one of COUNT(), SUM(path), AVG(path),
// MIN(path), MAX(path). Conditions use = != <> < <= > >=, IN [...], NIN
// [...], AND, OR, NOT, + - * / %, unary minus, parentheses, literals
// (strings in single or double quotes with JSON escapes plus \', numbers
// including 0x hex, true, false, null, undefined, arrays) and the functions
// IS_DEFINED, IS_NULL, IS_BOOL, IS_NUMBER, IS_STRING, IS_OBJECT, IS_ARRAY,
// IS_PRIMITIVE, AS_NUMBER, STARTSWITH/STARTS_WITH, ENDSWITH/ENDS_WITH,
// CONTAINS, LOWER, UPPER, LENGTH, CONCAT, SUBSTRING, INDEX_OF, ABS, CEILING,
// FLOOR, EXP, POWER, SQUARE, SIGN and SQRT.
//
// Keywords and function names are case-insensitive. The twin's identity
// names (deviceId, status, tags, properties, ...) and the system names one
// level down (properties.desired/reported, capabilities.iotEdge,
// x509Thumbprint.primaryThumbprint/secondaryThumbprint) match
// case-insensitively and are projected in their canonical casing; names
// below tags, desired and reported are case-sensitive. Reserved words (SELECT
// TOP FROM WHERE GROUP BY AS AND OR NOT IN NIN TRUE FALSE NULL UNDEFINED)
// must be escaped as [[word]] to be used as a path segment or alias; after a
// dot, any run of letters, digits, '_' and '$' is a segment, so tags.1 and
// properties.desired.$version need no escaping.
//
// # Semantics
//
// Evaluation follows Cosmos DB: a missing property is undefined; comparing
// values of different types, or any object or array, is undefined (also for
// != and <>); arithmetic on non-numbers, division or modulo by zero and
// results that are not finite are undefined; undefined propagates through
// comparisons, arithmetic and NOT; AND and OR use three-valued logic where
// any non-boolean operand counts as undefined. A row is kept only when the
// condition is exactly true. null = null is true and null orders equal to
// itself; false < true; strings compare by code point; date-times are
// strings.
//
// Choices where IoT Hub's behaviour is not documented:
//   - IN / NIN: a primitive not in the list is not in it (false), whatever
//     its type; an undefined, object or array operand is undefined.
//   - String functions count characters (code points): LENGTH, INDEX_OF
//     (-1 when absent) and SUBSTRING(s, start[, length]), 0-based, where
//     fractions truncate, a negative start counts as 0, and a start past the
//     end or a length below 1 gives "".
//   - AS_NUMBER accepts numbers and strings spelling a JSON number
//     (surrounding spaces allowed); anything else is undefined.
//   - Projections and aggregates are allowed over devices.modules too, and
//     GROUP BY as well, and over devices.jobs (rows the job runner puts in the
//     index).
//   - A projected path that is undefined is left out of the row; a row with
//     no defined element is {}. Unaliased aggregates are named $1, $2, ... in
//     order among the unaliased aggregates. Two elements with the same result
//     name are a parse error.
//   - SUM and AVG ignore non-numbers. MIN and MAX use the numbers, or, when a
//     group has no numbers, the strings (by code point); other types are
//     ignored. An aggregate with nothing to aggregate is left out of the row,
//     except COUNT(). Without GROUP BY an aggregate query always yields one
//     row, even over no documents.
//   - In an aggregate query every non-aggregate element must be a GROUP BY
//     path; GROUP BY without aggregates lists the distinct groups.
//
// # Order and paging
//
// SELECT * and projections return rows in ascending key order (deviceId, or
// deviceId/moduleId, by code point). Groups are ordered by their key values,
// first GROUP BY path first: undefined, null, false, true, numbers
// ascending, strings by code point, then objects and arrays by their
// canonical JSON text.
//
// Page sizes default to DefaultPageSize and are capped at MaxPageSize. A
// continuation token is opaque and bound to the query text. Scans resume
// strictly after the last returned key, so inserts and deletes between
// pages never duplicate or skip a surviving row; the token also counts the
// rows returned so far, so TOP caps the total across pages. Aggregate rows
// are recomputed for each page and the token carries an offset. The last
// page has no token: execution looks ahead one row before issuing one.
//
// # Indexes
//
// Every primitive value under tags (up to 16 levels deep) is kept in an
// equality index; a WHERE clause with a conjunct tags.<path> = <literal>
// reads only the documents holding that value and then evaluates the full
// condition on each, so the answer is identical to a scan.
package query
