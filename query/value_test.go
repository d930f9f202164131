package query

import (
	"encoding/json"
	"testing"
	"time"
)

// Hand-built documents may hold Go numeric types; they behave like the
// float64 that encoding/json would have produced, and non-JSON values are
// undefined rather than a panic.
func TestHandBuiltDocuments(t *testing.T) {
	ix := NewIndex()
	ix.Put(Devices, "a", MapDoc{"deviceId": "a", "tags": map[string]any{"n": 3, "m": int64(4), "j": json.Number("5"), "u": uint8(6), "f": float32(1.5)}})
	ix.Put(Devices, "b", MapDoc{"deviceId": "b", "tags": map[string]any{"n": time.Second, "m": struct{}{}, "j": json.Number("x")}})
	tests := []struct {
		where string
		want  string
	}{
		{"tags.n = 3", "[a]"},
		{"tags.m = 4", "[a]"},
		{"tags.j = 5", "[a]"},
		{"tags.u + tags.f = 7.5", "[a]"},
		{"tags.n > 2 AND tags.n < 4", "[a]"},
		{"IS_DEFINED(tags.n)", "[a]"}, // a time.Duration is not JSON
		{"IS_DEFINED(tags.m)", "[a]"},
		{"IS_DEFINED(tags.j)", "[a]"},
	}
	for _, tt := range tests {
		for _, optimized := range []bool{true, false} {
			q, err := parse("SELECT deviceId FROM devices WHERE "+tt.where, optimized)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ix.Execute(q, PageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p.Items); len(got) != 1 || "["+got[0]+"]" != tt.want {
				t.Errorf("%s (optimized %v): %v, want %s", tt.where, optimized, got, tt.want)
			}
		}
	}
	// Projections leave non-JSON values out, like undefined ones.
	q := mustParse(t, "SELECT tags.n, tags.m FROM devices WHERE deviceId = 'b'")
	p, err := ix.Execute(q, PageOptions{})
	if err != nil || len(p.Items) != 1 || len(p.Items[0].(map[string]any)) != 0 {
		t.Fatalf("projection of non-JSON values: %v %v", p.Items, err)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b val
		c    int
		ok   bool
	}{
		{numVal(1), numVal(2), -1, true},
		{numVal(2), numVal(2), 0, true},
		{strVal("b"), strVal("a"), 1, true},
		{strVal("Z"), strVal("a"), -1, true}, // code point order
		{strVal("é"), strVal("z"), 1, true},
		{falseVal, trueVal, -1, true},
		{nullVal, nullVal, 0, true},
		{numVal(1), strVal("1"), 0, false},
		{nullVal, numVal(0), 0, false},
		{undef, undef, 0, false},
		{val{k: kObj, ref: map[string]any{}}, val{k: kObj, ref: map[string]any{}}, 0, false},
		{val{k: kArr, ref: []any{}}, val{k: kArr, ref: []any{}}, 0, false},
	}
	for _, tt := range tests {
		c, ok := compare(tt.a, tt.b)
		if c != tt.c || ok != tt.ok {
			t.Errorf("compare(%v, %v) = %d %v, want %d %v", tt.a, tt.b, c, ok, tt.c, tt.ok)
		}
	}
}
