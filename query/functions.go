package query

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// funcDef is a built-in function, resolved once at parse time. Each
// implementation evaluates its own arguments so no argument slice is
// allocated per row.
type funcDef struct {
	name     string // canonical spelling for messages
	min, max int    // argument count bounds; max < 0 means no upper bound
	call     func(args []node, r *row) val
}

// lookupFunc resolves a function name case-insensitively.
func lookupFunc(name string) *funcDef {
	return functions[strings.ToUpper(name)]
}

// functions is read-only after initialisation.
var functions = map[string]*funcDef{
	"IS_DEFINED":   {"IS_DEFINED", 1, 1, typeCheck(func(k kind) bool { return k != kUndef })},
	"IS_NULL":      {"IS_NULL", 1, 1, typeCheck(func(k kind) bool { return k == kNull })},
	"IS_BOOL":      {"IS_BOOL", 1, 1, typeCheck(func(k kind) bool { return k == kBool })},
	"IS_NUMBER":    {"IS_NUMBER", 1, 1, typeCheck(func(k kind) bool { return k == kNum })},
	"IS_STRING":    {"IS_STRING", 1, 1, typeCheck(func(k kind) bool { return k == kStr })},
	"IS_OBJECT":    {"IS_OBJECT", 1, 1, typeCheck(func(k kind) bool { return k == kObj })},
	"IS_ARRAY":     {"IS_ARRAY", 1, 1, typeCheck(func(k kind) bool { return k == kArr })},
	"IS_PRIMITIVE": {"IS_PRIMITIVE", 1, 1, typeCheck(func(k kind) bool { return k >= kNull && k <= kStr })},
	"AS_NUMBER":    {"AS_NUMBER", 1, 1, fnAsNumber},

	"STARTSWITH":  {"STARTSWITH", 2, 2, strPred(strings.HasPrefix)},
	"STARTS_WITH": {"STARTS_WITH", 2, 2, strPred(strings.HasPrefix)},
	"ENDSWITH":    {"ENDSWITH", 2, 2, strPred(strings.HasSuffix)},
	"ENDS_WITH":   {"ENDS_WITH", 2, 2, strPred(strings.HasSuffix)},
	"CONTAINS":    {"CONTAINS", 2, 2, strPred(strings.Contains)},
	"LOWER":       {"LOWER", 1, 1, strMap(strings.ToLower)},
	"UPPER":       {"UPPER", 1, 1, strMap(strings.ToUpper)},
	"LENGTH":      {"LENGTH", 1, 1, fnLength},
	"CONCAT":      {"CONCAT", 2, -1, fnConcat},
	"SUBSTRING":   {"SUBSTRING", 2, 3, fnSubstring},
	"INDEX_OF":    {"INDEX_OF", 2, 2, fnIndexOf},

	"ABS":     {"ABS", 1, 1, math1(math.Abs)},
	"CEILING": {"CEILING", 1, 1, math1(math.Ceil)},
	"FLOOR":   {"FLOOR", 1, 1, math1(math.Floor)},
	"EXP":     {"EXP", 1, 1, math1(math.Exp)},
	"SQUARE":  {"SQUARE", 1, 1, math1(func(x float64) float64 { return x * x })},
	"SIGN":    {"SIGN", 1, 1, math1(sign)},
	"SQRT":    {"SQRT", 1, 1, math1(math.Sqrt)},
	"POWER":   {"POWER", 2, 2, fnPower},
}

func typeCheck(pred func(kind) bool) func([]node, *row) val {
	return func(a []node, r *row) val { return boolVal(pred(a[0].eval(r).k)) }
}

func strPred(pred func(s, sub string) bool) func([]node, *row) val {
	return func(a []node, r *row) val {
		s := a[0].eval(r)
		if s.k != kStr {
			return undef
		}
		p := a[1].eval(r)
		if p.k != kStr {
			return undef
		}
		return boolVal(pred(s.s, p.s))
	}
}

func strMap(f func(string) string) func([]node, *row) val {
	return func(a []node, r *row) val {
		s := a[0].eval(r)
		if s.k != kStr {
			return undef
		}
		return strVal(f(s.s))
	}
}

func math1(f func(float64) float64) func([]node, *row) val {
	return func(a []node, r *row) val {
		x := a[0].eval(r)
		if x.k != kNum {
			return undef
		}
		return numVal(f(x.n))
	}
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func fnPower(a []node, r *row) val {
	x := a[0].eval(r)
	if x.k != kNum {
		return undef
	}
	y := a[1].eval(r)
	if y.k != kNum {
		return undef
	}
	return numVal(math.Pow(x.n, y.n))
}

func fnLength(a []node, r *row) val {
	s := a[0].eval(r)
	if s.k != kStr {
		return undef
	}
	return numVal(float64(utf8.RuneCountInString(s.s)))
}

func fnConcat(a []node, r *row) val {
	var b strings.Builder
	for _, x := range a {
		v := x.eval(r)
		if v.k != kStr {
			return undef
		}
		b.WriteString(v.s)
	}
	return strVal(b.String())
}

// fnIndexOf answers in characters, like SUBSTRING and LENGTH.
func fnIndexOf(a []node, r *row) val {
	s := a[0].eval(r)
	if s.k != kStr {
		return undef
	}
	sub := a[1].eval(r)
	if sub.k != kStr {
		return undef
	}
	i := strings.Index(s.s, sub.s)
	if i < 0 {
		return numVal(-1)
	}
	return numVal(float64(utf8.RuneCountInString(s.s[:i])))
}

// fnSubstring takes a 0-based character start and optional length.
// Fractions truncate; a negative start counts as 0; a start past the end or
// a length below 1 gives "".
func fnSubstring(a []node, r *row) val {
	s := a[0].eval(r)
	if s.k != kStr {
		return undef
	}
	st := a[1].eval(r)
	if st.k != kNum {
		return undef
	}
	n := utf8.RuneCountInString(s.s)
	start := clampInt(st.n, n)
	length := n
	if len(a) == 3 {
		l := a[2].eval(r)
		if l.k != kNum {
			return undef
		}
		length = clampInt(l.n, n)
	}
	if start >= n || length <= 0 {
		return strVal("")
	}
	end := min(start+length, n)
	return strVal(runeSlice(s.s, start, end))
}

// clampInt truncates f into [0, hi] without overflowing the conversion.
func clampInt(f float64, hi int) int {
	switch {
	case f <= 0:
		return 0
	case f >= float64(hi):
		return hi
	}
	return int(f)
}

// runeSlice returns the characters [from, to) of s.
func runeSlice(s string, from, to int) string {
	i, start, end := 0, len(s), len(s)
	for off := range s {
		if i == from {
			start = off
		}
		if i == to {
			end = off
			break
		}
		i++
	}
	return s[start:end]
}

// fnAsNumber converts numbers and strings that spell a JSON number.
func fnAsNumber(a []node, r *row) val {
	v := a[0].eval(r)
	switch v.k {
	case kNum:
		return v
	case kStr:
		s := strings.TrimSpace(v.s)
		if !isJSONNumber(s) {
			return undef
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return undef
		}
		return numVal(f)
	}
	return undef
}

// isJSONNumber checks the JSON number grammar, which is stricter than
// strconv (no hex, no "Inf", no underscores, no leading '+').
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}
