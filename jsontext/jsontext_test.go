package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"ascii", `{"a":"b"}`, true},
		{"multibyte", `{"ключ":"値 🌡"}`, true},
		{"escaped pair", `{"a":"\ud83c\udf21"}`, true},
		{"escaped pair upper hex", `{"a":"\uD83C\uDF21"}`, true},
		{"escaped bmp", `{"a":"\u00e9\u0000"}`, true},
		{"escaped backslash then u", `{"a":"\\ud800"}`, true},
		{"literal replacement char", `{"a":"\ufffd �"}`, true},
		{"u outside strings is the decoder's business", `{"a":1} \ud800`, true},
		{"invalid byte in string", "{\"a\":\"\xff\"}", false},
		{"truncated sequence", "{\"a\":\"\xe2\x82\"}", false},
		{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", false},
		{"encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", false},
		{"invalid byte in key", "{\"\xfe\":1}", false},
		{"lone high surrogate", `{"a":"\ud800"}`, false},
		{"lone high at end", `{"a":"x\ud83c"}`, false},
		{"high then non-surrogate", `{"a":"\ud83c\u0041"}`, false},
		{"high then high", `{"a":"\ud83c\ud83c"}`, false},
		{"lone low surrogate", `{"a":"\udf21"}`, false},
		{"reversed pair", `{"a":"\udf21\ud83c"}`, false},
		{"surrogate in key", `{"\ud800":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

// FuzzCheck holds Check to its promise: text it accepts decodes without the
// decoder inventing a U+FFFD that the text did not spell.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `"\ud83c\udf21"`, `"\ud800"`, "\"\xff\"", `"\\u"`, `"\u12"`, `"\ufffd"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) != nil {
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q", b)
		}
		var s string
		if json.Unmarshal(b, &s) != nil {
			return
		}
		spelled := strings.Count(string(b), "\ufffd") + strings.Count(strings.ToLower(string(b)), `\ufffd`)
		if got := strings.Count(s, "\ufffd"); got > spelled {
			t.Fatalf("accepted %q, which decodes to %q with %d replacement characters (%d spelled)", b, s, got, spelled)
		}
	})
}
