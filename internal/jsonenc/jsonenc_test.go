package jsonenc

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789e15,
		-5e-324, math.MaxFloat64, -math.MaxFloat64, 1.5e-10, 2e-100, 1e100, 12345.6789, 1 << 53} {
		want, _ := json.Marshal(f)
		if got := AppendFloat(nil, f); string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}

// sameAsEncodingJSON checks AppendValue against json.Marshal for the value
// text decodes to.
func sameAsEncodingJSON(t *testing.T, text []byte) {
	t.Helper()
	var v any
	if json.Unmarshal(text, &v) != nil {
		return
	}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendValue([]byte("x"), v); string(got) != "x"+string(want) {
		t.Fatalf("AppendValue(%s):\n got %s\nwant x%s", text, got, want)
	}
}

func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	for _, text := range []string{
		`null`, `true`, `false`, `0`, `-0.5`, `1e-7`, `"plain"`, `"<tag> & \"q\" \\ \u2028 \u00e9 \u0001"`, "\"\xff\"",
		`[]`, `{}`, `[1,"a",null,[{}]]`, `{"b":1,"a":{"z":[true],"y":null},"":"empty","é":1,"A":2}`,
	} {
		sameAsEncodingJSON(t, []byte(text))
	}
	if got := AppendValue(nil, 7); string(got) != "7" {
		t.Errorf("an int: %s", got)
	}
}

func FuzzAppendValue(f *testing.F) {
	for _, text := range []string{`{"b":1,"a":[null,"\u003c"]}`, `"\ud800"`, `1e-300`, `[{"":{}}]`} {
		f.Add([]byte(text))
	}
	f.Fuzz(sameAsEncodingJSON)
}
