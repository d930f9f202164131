package query

import (
	"encoding/json"
	"math"
	"strings"
)

// kind is the JSON type of a value, plus undefined for "no such property".
// The order of the constants is the cross-type order used to sort groups.
type kind uint8

const (
	kUndef kind = iota
	kNull
	kBool
	kNum
	kStr
	kObj
	kArr
)

// val is an evaluated value. It is a plain struct, not an interface, so
// arithmetic and comparisons on the hot path never allocate.
type val struct {
	k   kind
	b   bool
	n   float64
	s   string
	ref any // the map[string]any or []any for kObj / kArr
}

var (
	undef    = val{}
	nullVal  = val{k: kNull}
	trueVal  = val{k: kBool, b: true}
	falseVal = val{k: kBool}
)

func boolVal(b bool) val    { return val{k: kBool, b: b} }
func strVal(s string) val   { return val{k: kStr, s: s} }
func (v val) defined() bool { return v.k != kUndef }

// numVal keeps only finite numbers: JSON cannot carry NaN or infinities, so
// an overflow or an invalid operation is undefined rather than an error.
func numVal(f float64) val {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return undef
	}
	return val{k: kNum, n: f}
}

// fromAny converts a decoded JSON value. Documents should hold only the
// types encoding/json produces; other numeric types are accepted so a caller
// that built a document by hand still gets sensible answers, and anything
// else is undefined rather than a panic.
func fromAny(x any) val {
	switch t := x.(type) {
	case string:
		return val{k: kStr, s: t}
	case float64:
		return numVal(t)
	case bool:
		return val{k: kBool, b: t}
	case nil:
		return nullVal
	case map[string]any:
		return val{k: kObj, ref: t}
	case []any:
		return val{k: kArr, ref: t}
	}
	return fromOther(x)
}

func fromOther(x any) val {
	switch t := x.(type) {
	case int:
		return numVal(float64(t))
	case int8:
		return numVal(float64(t))
	case int16:
		return numVal(float64(t))
	case int32:
		return numVal(float64(t))
	case int64:
		return numVal(float64(t))
	case uint:
		return numVal(float64(t))
	case uint8:
		return numVal(float64(t))
	case uint16:
		return numVal(float64(t))
	case uint32:
		return numVal(float64(t))
	case uint64:
		return numVal(float64(t))
	case float32:
		return numVal(float64(t))
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return undef
		}
		return numVal(f)
	}
	return undef
}

// toAny is the inverse of fromAny, for literals that end up in results.
func (v val) toAny() any {
	switch v.k {
	case kNull:
		return nil
	case kBool:
		return v.b
	case kNum:
		return v.n
	case kStr:
		return v.s
	case kObj, kArr:
		return v.ref
	}
	return nil
}

// compare orders two primitives of the same type. ok is false when the
// comparison is undefined: either side undefined, different types, or an
// object or array on either side.
func compare(a, b val) (c int, ok bool) {
	if a.k != b.k {
		return 0, false
	}
	switch a.k {
	case kNull:
		return 0, true
	case kBool:
		switch {
		case a.b == b.b:
			return 0, true
		case b.b:
			return -1, true
		}
		return 1, true
	case kNum:
		switch {
		case a.n < b.n:
			return -1, true
		case a.n > b.n:
			return 1, true
		}
		return 0, true
	case kStr:
		// Byte order of UTF-8 is code point order.
		return strings.Compare(a.s, b.s), true
	}
	return 0, false
}

// equalPrimitive reports strict equality of two primitives; used by IN.
func equalPrimitive(a, b val) bool {
	c, ok := compare(a, b)
	return ok && c == 0
}
