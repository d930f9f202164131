package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A value the scanner reads must read as encoding/json reads it; where the
// scanner fails, its callers fall back, so failing is always allowed.
func checkValue(t *testing.T, in string) {
	t.Helper()
	var want any
	wantErr := json.Unmarshal([]byte(in), &want)
	s := New([]byte(in))
	var got any
	switch s.Peek() {
	case '"':
		got = s.String()
	case 't', 'f':
		got = s.Bool()
	case 'n':
		s.Null()
		got = nil
	case '[', '{':
		// Skip finds a value's extent without checking it; callers hand
		// what it returns to encoding/json.
		raw := s.Skip()
		if !s.Failed() && json.Unmarshal(raw, &got) != nil {
			s.Fail()
		}
	default:
		got = s.Float()
	}
	if s.Failed() || !s.End() {
		return
	}
	if wantErr != nil {
		t.Fatalf("scanner read %q as %v; encoding/json refuses it: %v", in, got, wantErr)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("scanner read %q as %s, encoding/json as %s", in, gb, wb)
	}
}

func TestValues(t *testing.T) {
	for _, in := range []string{
		`0`, `-0`, `12`, `1.5`, `-1.5e-3`, `1E+2`, `01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e400`, `4503599627370495.5`,
		`""`, `"abc"`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", `"\ud800"`, `"tab` + "\t" + `"`, `"unterminated`,
		`true`, `false`, `null`, `tru`, `nul`,
		`[]`, `[1,[2,{"a":"]"}]]`, `{"a":{"b":[]}}`, `[`, `{"a":1`, `]`, `  7  `,
	} {
		checkValue(t, in)
	}
}

func TestObject(t *testing.T) {
	tests := []struct {
		in   string
		keys string
		ok   bool
	}{
		{`{}`, "", true},
		{`{"a":1,"b":2}`, "ab", true},
		{` { "a" : 1 } `, "a", true},
		{`{"a":1,}`, "a", false},
		{`{"a\u0062":1}`, "", false}, // escaped keys are left to encoding/json
		{`{"a" 1}`, "", false},
		{`[1]`, "", false},
	}
	for _, tt := range tests {
		s := New([]byte(tt.in))
		keys := ""
		s.Object(func(k []byte) {
			keys += string(k)
			s.Float()
		})
		ok := !s.Failed() && s.End()
		if ok != tt.ok || (ok && keys != tt.keys) {
			t.Errorf("Object(%s): keys %q ok %v, want %q %v", tt.in, keys, ok, tt.keys, tt.ok)
		}
	}
}

func TestIntAndOptString(t *testing.T) {
	s := New([]byte(`[12, 1.5, "x", null]`))
	s.Expect('[')
	if v := s.Int(); v != 12 || s.Failed() {
		t.Fatalf("Int = %d (failed %v)", v, s.Failed())
	}
	s.Expect(',')
	if s.Int(); !s.Failed() {
		t.Fatal("Int read 1.5, which encoding/json refuses for an integer")
	}
	s = New([]byte(`"x" null`))
	if p := s.OptString(); p == nil || *p != "x" {
		t.Fatalf("OptString = %v", p)
	}
	if p := s.OptString(); p != nil || s.Failed() || !s.End() {
		t.Fatalf("OptString of null = %v (failed %v)", p, s.Failed())
	}
}

func FuzzValue(f *testing.F) {
	for _, in := range []string{`0`, `-1.5e3`, `"a\"b"`, `[1,{"a":"]"}]`, `true`, `null`, `{"a":{}}`} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) { checkValue(t, in) })
}

// checkPlainString: PlainString reads what String reads, and stops where
// it stops, or declines and leaves the scanner where it was.
func checkPlainString(t *testing.T, in string) {
	t.Helper()
	s, ref := New([]byte(in)), New([]byte(in))
	b, ok := s.PlainString()
	want := ref.String()
	if !ok {
		if got := s.String(); got != want || s.Failed() != ref.Failed() {
			t.Fatalf("after PlainString declined %q, String read %q (failed %v), want %q (failed %v)", in, got, s.Failed(), want, ref.Failed())
		}
		return
	}
	if ref.Failed() || string(b) != want {
		t.Fatalf("PlainString read %q as %q, String as %q (failed %v)", in, b, want, ref.Failed())
	}
	if s.End() != ref.End() {
		t.Fatalf("PlainString and String stop at different places in %q", in)
	}
}

func TestPlainString(t *testing.T) {
	for _, in := range []string{
		`"abc"`, `""`, `  "x y" `, `"a\"b"`, `"\u0041"`, `"é"`, "\"\xff\"", "\"tab\t\"", `"unterminated`, `1`, `null`, ``, `"a" "b"`,
	} {
		checkPlainString(t, in)
	}
	s := New([]byte(`"a\nb"`))
	if _, ok := s.PlainString(); ok {
		t.Fatal("PlainString took a string with an escape")
	}
}

func FuzzPlainString(f *testing.F) {
	for _, in := range []string{`"abc"`, `"a\"b"`, `"é"`, `""`} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) { checkPlainString(t, in) })
}

// decodingSkip is Skip as it was, decoding every string it passes: where
// it finds a value, Skip must find the same bytes and stop at the same
// place.
func decodingSkip(s *Scanner) []byte {
	return s.skip(true)
}

func checkSkip(t *testing.T, in string) {
	t.Helper()
	s, ref := New([]byte(in)), New([]byte(in))
	got, want := s.Skip(), decodingSkip(ref)
	if ref.Failed() {
		return // Skip may find an extent in what does not decode
	}
	if s.Failed() || string(got) != string(want) || s.i != ref.i {
		t.Fatalf("Skip of %q = %q at %d (failed %v), want %q at %d", in, got, s.i, s.Failed(), want, ref.i)
	}
}

func TestSkip(t *testing.T) {
	for _, in := range []string{
		`[]`, `{}`, ` [1, "a]", {"b": "}\"{"}] ,`, `{"a\\":"\\"}x`, `"str" 1`, `"é\u00e9"`, `[["\\\""]]`,
		`12 3`, `true]`, `["a` + "\t" + `"]`, `["unterminated]`, `{"a":1`, `]`, `["\x"]`, `"ends in a backslash\`, `["ends in a backslash\`,
	} {
		checkSkip(t, in)
	}
	// What Skip passes over without checking, its callers' parser refuses.
	s := New([]byte(`["\x"]`))
	if raw := s.Skip(); s.Failed() || string(raw) != `["\x"]` {
		t.Fatalf("Skip of a bad escape = %q (failed %v): it finds the extent, the parser refuses", raw, s.Failed())
	}
}

func FuzzSkip(f *testing.F) {
	for _, in := range []string{`[1,{"a":"]"}]`, `{"a":"\""}`, `"x"`, `[`, `["\u00e9"]`} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) { checkSkip(t, in) })
}

// plainRunByBytes is plainRun a byte at a time.
func plainRunByBytes(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(b)
}

// TestPlainRun puts every byte value at every place of runs up to three
// words long, and pairs of them, and checks plainRun against a byte-wise
// scan: the word-wide test must find the first byte that ends a run
// wherever it is and whatever it is.
func TestPlainRun(t *testing.T) {
	for n := range 25 {
		for p := range n {
			for v := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[p] = byte(v)
				if got, want := plainRun(b), plainRunByBytes(b); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
				}
				if p+1 < n {
					b[p+1] = '"'
					if got, want := plainRun(b), plainRunByBytes(b); got != want {
						t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}

func FuzzPlainRun(f *testing.F) {
	f.Add([]byte("2026-01-02T03:04:05.1234567Z\""))
	f.Add([]byte("abc\\\"def"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := plainRun(b), plainRunByBytes(b); got != want {
			t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
		}
	})
}

func BenchmarkPlainString(b *testing.B) {
	for _, in := range []string{`"mode"`, `"2026-01-02T03:04:05.1234567Z"`} {
		b.Run(fmt.Sprint(len(in)-2), func(b *testing.B) {
			data := []byte(in)
			for b.Loop() {
				s := New(data)
				if _, ok := s.PlainString(); !ok {
					b.Fatal("not plain")
				}
			}
		})
	}
}

func TestTakeString(t *testing.T) {
	tests := []struct {
		in, lit string
		want    bool
		rest    string // what is left after
	}{
		{`"abc",1`, "abc", true, ",1"},
		{`  "abc"`, "abc", true, ""},
		{`"abcd"`, "abc", false, `"abcd"`},
		{`"ab"`, "abc", false, `"ab"`},
		{`"abd"`, "abc", false, `"abd"`},
		{`"abc`, "abc", false, `"abc`},
		{`abc"`, "abc", false, `abc"`},
		{`""`, "", true, ""},
		{`1`, "", false, "1"},
	}
	for _, tt := range tests {
		s := New([]byte(tt.in))
		if got := s.TakeString([]byte(tt.lit)); got != tt.want {
			t.Errorf("TakeString(%q) of %q = %v, want %v", tt.lit, tt.in, got, tt.want)
		}
		if rest := strings.TrimLeft(string(s.b[s.i:]), " "); rest != strings.TrimLeft(tt.rest, " ") || s.Failed() {
			t.Errorf("TakeString(%q) of %q left %q (failed %v), want %q", tt.lit, tt.in, rest, s.Failed(), tt.rest)
		}
	}
}
