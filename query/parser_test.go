package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestParseShape(t *testing.T) {
	tests := []struct {
		text    string
		coll    Collection
		star    bool
		top     int
		names   []string
		grouped bool
	}{
		{"SELECT * FROM devices", Devices, true, -1, nil, false},
		{"select * from devices.modules", Modules, true, -1, nil, false},
		{"SELECT * FROM DEVICES.JOBS", Jobs, true, -1, nil, false},
		{"SELECT TOP 5 deviceId FROM devices", Devices, false, 5, []string{"deviceId"}, false},
		{"SELECT\tdeviceId ,\r\n  tags.a.b AS x\nFROM\n devices", Devices, false, -1, []string{"deviceId", "x"}, false},
		{"SELECT COUNT(), SUM(version) AS s, MAX(version) FROM devices", Devices, false, -1, []string{"$1", "s", "$2"}, true},
		{"SELECT status FROM devices GROUP BY status", Devices, false, -1, []string{"status"}, true},
		{"SELECT tags.[[group]] FROM devices", Devices, false, -1, []string{"group"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			q, err := Parse(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if q.Collection() != tt.coll || q.star != tt.star || q.top != tt.top || q.grouped != tt.grouped {
				t.Fatalf("got coll=%v star=%v top=%d grouped=%v", q.Collection(), q.star, q.top, q.grouped)
			}
			var names []string
			for _, e := range q.elems {
				names = append(names, e.name)
			}
			if strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Fatalf("names %v, want %v", names, tt.names)
			}
			if q.String() != tt.text {
				t.Fatalf("String() = %q", q.String())
			}
		})
	}
}

// Positions count characters, including line breaks and multi-byte runes.
func TestParseErrorPositions(t *testing.T) {
	tests := []struct {
		text string
		pos  int
	}{
		{"SELECT *\nFORM devices", 10},
		{"SELECT *\r\nFROM devices\r\nWHERE ~", 31},
		{"SELECT 'é' FROM devices", 8},
		{"SELECT * FROM devices WHERE tags.ü = 'ü' ?", 42},
		{"\t\tSELECT", 9},
		{"SELECT * FROM devices WHERE x = '\xff'", 34},
		{"SELECT * FROM devices WHERE \xff", 29},
		{"SELECT * FROM devices WHERE tags.[[a b]] = 1", 34},
	}
	for _, tt := range tests {
		_, err := Parse(tt.text)
		var qe *Error
		if !errors.As(err, &qe) {
			t.Fatalf("Parse(%q) = %v, want *Error", tt.text, err)
		}
		if qe.Position != tt.pos {
			t.Errorf("Parse(%q): position %d (%s), want %d", tt.text, qe.Position, qe.Message, tt.pos)
		}
		if !strings.Contains(qe.Message, "position") {
			t.Errorf("message %q does not say where", qe.Message)
		}
	}
}

func TestParseLengthLimit(t *testing.T) {
	base := "SELECT * FROM devices"
	ok := base + strings.Repeat(" ", MaxQueryLength-len(base))
	if _, err := Parse(ok); err != nil {
		t.Fatalf("query of exactly %d characters: %v", MaxQueryLength, err)
	}
	// Characters, not bytes: 8192 two-byte runes are within the limit.
	q := "SELECT * FROM devices WHERE tags.x = '"
	q += strings.Repeat("é", MaxQueryLength-len(q)-1) + "'"
	if _, err := Parse(q); err != nil {
		t.Fatalf("multi-byte query of %d characters: %v", MaxQueryLength, err)
	}
	_, err := Parse(ok + " ")
	var qe *Error
	if !errors.As(err, &qe) || qe.Position != MaxQueryLength+1 || !strings.Contains(qe.Message, "8192") {
		t.Fatalf("over-long query: %v", err)
	}
}

func TestParseDepthLimit(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "true" + strings.Repeat(close, n)
	}
	tests := []struct {
		name string
		expr func(n int) string
	}{
		{"parens", func(n int) string { return nest("(", ")", n) }},
		{"not", func(n int) string { return strings.Repeat("NOT ", n) + "true" }},
		{"minus", func(n int) string { return strings.Repeat("-", n) + "1 = 1" }},
		{"calls", func(n int) string { return "IS_DEFINED(" + nest("LOWER(", ")", n-1) + ")" }},
		{"arrays", func(n int) string { return "IS_ARRAY(" + nest("[ ", " ]", n-1) + ")" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("SELECT * FROM devices WHERE " + tt.expr(maxDepth)); err != nil {
				t.Fatalf("depth %d: %v", maxDepth, err)
			}
			_, err := Parse("SELECT * FROM devices WHERE " + tt.expr(maxDepth+1))
			var qe *Error
			if !errors.As(err, &qe) || !strings.Contains(qe.Message, "nested too deeply") {
				t.Fatalf("depth %d: %v", maxDepth+1, err)
			}
		})
	}
}

// Long flat chains are not nesting: they parse and evaluate.
func TestParseLongChains(t *testing.T) {
	ix := NewIndex()
	ix.Put(Devices, "d", MapDoc{"deviceId": "d"})
	for _, where := range []string{
		strings.Repeat("1=1 AND ", 900) + "1=1",
		strings.Repeat("1=2 OR ", 900) + "1=1",
	} {
		q, err := Parse("SELECT deviceId FROM devices WHERE " + where)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ix.Execute(q, PageOptions{})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("%.20s... chain: %v %v", where, p.Items, err)
		}
	}
	q, err := Parse("SELECT deviceId FROM devices WHERE 0" + strings.Repeat("+1", 3000) + " = 3000")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ix.Execute(q, PageOptions{}); err != nil || len(p.Items) != 1 {
		t.Fatalf("arithmetic chain: %v %v", p.Items, err)
	}
}

func TestErrorIsArgumentInvalid(t *testing.T) {
	_, err := Parse("SELECT * FORM devices")
	if err == nil {
		t.Fatal("want error")
	}
	e := errcode.From(err)
	if e.Code != errcode.ArgumentInvalid || !strings.Contains(e.Message, "FORM") {
		t.Fatalf("errcode.From = %v", e)
	}
}

func TestLexEscapedNames(t *testing.T) {
	tests := []struct {
		src   string
		kinds []tokKind
		first string
	}{
		{"[[group]]", []tokKind{tEscaped, tEOF}, "group"},
		{"[[a-b]]", []tokKind{tEscaped, tEOF}, "a-b"},
		{"[['a']]", []tokKind{tPunct, tPunct, tString, tPunct, tPunct, tEOF}, "["},
		{"[[1,2]]", []tokKind{tPunct, tPunct, tNumber, tPunct, tNumber, tPunct, tPunct, tEOF}, "["},
		{"[[ x ]]", []tokKind{tPunct, tPunct, tIdent, tPunct, tPunct, tEOF}, "["},
		{"[[]]", []tokKind{tPunct, tPunct, tPunct, tPunct, tEOF}, "["},
		{"[[x", []tokKind{tPunct, tPunct, tIdent, tEOF}, "["},
		{"a.1b.$c", []tokKind{tIdent, tPunct, tIdent, tPunct, tIdent, tEOF}, "a"},
		{"1.5", []tokKind{tNumber, tEOF}, "1.5"},
		{"1 .5", []tokKind{tNumber, tPunct, tIdent, tEOF}, "1"},
	}
	for _, tt := range tests {
		toks, err := lex(tt.src)
		if err != nil {
			t.Fatalf("lex(%q): %v", tt.src, err)
		}
		var kinds []tokKind
		for _, tk := range toks {
			kinds = append(kinds, tk.kind)
		}
		if len(kinds) != len(tt.kinds) {
			t.Fatalf("lex(%q) kinds %v, want %v", tt.src, kinds, tt.kinds)
		}
		for i := range kinds {
			if kinds[i] != tt.kinds[i] {
				t.Fatalf("lex(%q) kinds %v, want %v", tt.src, kinds, tt.kinds)
			}
		}
		if got := toks[0].str; got != tt.first && toks[0].raw != tt.first {
			t.Fatalf("lex(%q) first token %q, want %q", tt.src, got, tt.first)
		}
	}
}

func TestLexStrings(t *testing.T) {
	tests := []struct{ src, want string }{
		{`'plain'`, "plain"},
		{`"dq"`, "dq"},
		{`'it\'s'`, "it's"},
		{`"say \"hi\""`, `say "hi"`},
		{`'\\ \/ \b\f\n\r\t'`, "\\ / \b\f\n\r\t"},
		{`'\u00e9\u00C9'`, "éÉ"},
		{`'\ud83d\ude00'`, "😀"},
		{`'\ud83d'`, "\uFFFD"},
		{`'\ud83d\u0041'`, "\uFFFDA"},
		{`'mixed "quotes"'`, `mixed "quotes"`},
		{`"it's"`, "it's"},
		{`''`, ""},
	}
	for _, tt := range tests {
		toks, err := lex(tt.src)
		if err != nil {
			t.Fatalf("lex(%s): %v", tt.src, err)
		}
		if toks[0].kind != tString || toks[0].str != tt.want {
			t.Fatalf("lex(%s) = %q, want %q", tt.src, toks[0].str, tt.want)
		}
	}
}

func TestLexNumbers(t *testing.T) {
	tests := []struct {
		src  string
		want float64
	}{
		{"0", 0}, {"42", 42}, {"3.25", 3.25}, {"1e3", 1000}, {"1E-2", 0.01}, {"2.5e+1", 25},
		{"0x1F", 31}, {"0XfF", 255}, {"0x0", 0}, {"007", 7},
	}
	for _, tt := range tests {
		toks, err := lex(tt.src)
		if err != nil {
			t.Fatalf("lex(%s): %v", tt.src, err)
		}
		if toks[0].kind != tNumber || toks[0].num != tt.want || toks[1].kind != tEOF {
			t.Fatalf("lex(%s) = %v, want %v", tt.src, toks, tt.want)
		}
	}
	for _, bad := range []string{"0x", "0xg", "1e", "1e+", "12ab", "0x1G", "1e400", "0x10000000000000000"} {
		if _, err := lex(bad); err == nil {
			t.Errorf("lex(%s): no error", bad)
		}
	}
}
