package seed

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// TestIsNormal: a value isNormal accepts is one normalize returns unchanged
// (so it may be used without the copy), and a value normalize would change
// or refuse is not accepted.
func TestIsNormal(t *testing.T) {
	cases := []struct {
		v    any
		want bool
	}{
		{nil, true}, {true, true}, {"s", true}, {1.5, true},
		{map[string]any{"a": 1.0, "b": map[string]any{"c": []any{nil, "x", map[string]any{"d": false}}}}, true},
		{[]any{}, true}, {map[string]any{}, true},
		{math.Inf(1), false}, {math.NaN(), false},
		{map[string]any{"a": nil}, false},
		{map[string]any{"a": map[string]any{"b": nil}}, false},
		{[]any{map[string]any{"a": nil}}, false}, // normalize drops nulls of objects inside lists too
		{json.Number("1"), false}, {1, false}, {float32(1), false},
		{Properties{"a": 1.0}, false}, {map[string]any{"a": Properties{}}, false},
		{make(chan int), false},
	}
	for _, c := range cases {
		if got := isNormal(c.v); got != c.want {
			t.Errorf("isNormal(%#v) = %v, want %v", c.v, got, c.want)
		}
		if !c.want {
			continue
		}
		n, err := normalize("", c.v)
		if err != nil || !reflect.DeepEqual(n, c.v) {
			t.Errorf("normalize(%#v) = %#v, %v: isNormal accepted a value normalize changes", c.v, n, err)
		}
	}
}
