package twin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

// nest returns n nested objects ending in a leaf: nest(2) is {"l1":{"l2":{"p":1}}}.
func nest(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"l%d":`, i)
	}
	b.WriteString(`{"p":1}`)
	b.WriteString(strings.Repeat("}", n))
	return b.String()
}

// writer applies one section's content (a JSON object) to a twin by one
// kind of write.
type writer struct {
	name    string
	section string // as error messages name it
	apply   func(tw *twin.Twin, body string, now time.Time) error
}

func serviceWriter(name, section string, wrap func(string) string, replace bool) writer {
	return writer{name, section, func(tw *twin.Twin, body string, now time.Time) error {
		u, err := twin.ParseServiceBody([]byte(wrap(body)))
		if err != nil {
			return err
		}
		if replace {
			_, err = tw.Replace(u, now)
		} else {
			_, err = tw.Patch(u, now)
		}
		return err
	}}
}

// directWriter builds the ServiceUpdate in Go (numbers already float64),
// bypassing ParseServiceBody, to show Patch validates on its own.
func directWriter(name, section string, tags bool) writer {
	return writer{name, section, func(tw *twin.Twin, body string, now time.Time) error {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			return errSkip
		}
		u := twin.ServiceUpdate{Desired: m, HasDesired: true}
		if tags {
			u = twin.ServiceUpdate{Tags: m, HasTags: true}
		}
		_, err := tw.Patch(u, now)
		return err
	}}
}

var errSkip = fmt.Errorf("body not decodable by encoding/json; row does not apply")

func allWriters() []writer {
	tags := func(s string) string { return `{"tags":` + s + `}` }
	desired := func(s string) string { return `{"properties":{"desired":` + s + `}}` }
	return []writer{
		serviceWriter("patch tags", "tags", tags, false),
		serviceWriter("patch desired", "properties.desired", desired, false),
		serviceWriter("replace tags", "tags", tags, true),
		serviceWriter("replace desired", "properties.desired", desired, true),
		directWriter("direct tags", "tags", true),
		directWriter("direct desired", "properties.desired", false),
		{"reported", "properties.reported", func(tw *twin.Twin, body string, now time.Time) error {
			_, err := tw.PatchReported([]byte(body), now)
			return err
		}},
	}
}

// seeded is a twin with content in every section, so that "unchanged after a
// rejected write" means something.
func seeded(t testing.TB) *twin.Twin {
	tw := twin.New(at(0))
	patch(t, tw, `{"tags":{"site":{"hall":"b"},"n":1},"properties":{"desired":{"cfg":{"rate":5,"on":true},"list":[1,"a"]}}}`, at(1))
	report(t, tw, `{"fw":"1.0","state":{"temp":20.5}}`, at(2))
	return tw
}

func TestValidationRules(t *testing.T) {
	k1024 := strings.Repeat("k", 1024)
	tests := []struct {
		name string
		body string
		ok   bool
		frag string // in the error; %s is the section
	}{
		// keys
		{"empty key", `{"":1}`, false, "a key must not be empty"},
		{"key of 1024 bytes", `{"` + k1024 + `":1}`, true, ""},
		{"key of 1025 bytes", `{"` + k1024 + `k":1}`, false, "must not exceed 1024 bytes"},
		{"key of 1025 bytes in multibyte chars", `{"` + strings.Repeat("é", 512) + `k":1}`, false, "must not exceed 1024 bytes"},
		{"key with dot", `{"a.b":1}`, false, `invalid key "a.b" in %s: a key must not contain '.'`},
		{"key with dollar inside", `{"a$b":1}`, false, "must not contain '$'"},
		{"nested key starting with dollar", `{"o":{"$x":1}}`, false, `invalid key "$x" in %s.o`},
		{"key with space", `{"a b":1}`, false, "must not contain a space"},
		{"key with C0 control", `{"a\u0001":1}`, false, "control character U+0001"},
		{"key with tab", `{"a\tb":1}`, false, "control character U+0009"},
		{"key with C1 control", `{"a\u0085":1}`, false, "control character U+0085"},
		{"key with last C1 control", `{"a\u009f":1}`, false, "control character U+009F"},
		{"key with no-break space", `{"a\u00a0":1}`, true, ""},
		{"unicode key", `{"温度":1}`, true, ""},
		{"deleting an invalid key", `{"a.b":null}`, false, "must not contain '.'"},
		{"bad key inside object inside array", `{"arr":[1,{"x.y":2}]}`, false, `invalid key "x.y" in %s.arr[1]`},
		{"bad key deep in arrays", `{"arr":[[{"ok":{"no way":1}}]]}`, false, "must not contain a space"},
		// depth
		{"depth 10", nest(10), true, ""},
		{"depth 11", nest(11), false, "nested more than 10 levels"},
		{"depth 11 by an empty object", strings.Replace(nest(10), `{"p":1}`, `{"p":{}}`, 1), false, "nested more than 10 levels"},
		{"depth counts objects inside arrays", `{"a":[` + nest(9) + `]}`, true, ""},
		{"depth 11 through an array", `{"a":[` + nest(10) + `]}`, false, "nested more than 10 levels"},
		{"deep arrays are not levels", `{"a":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}`, true, ""},
		// strings
		{"string of 4096 bytes", `{"s":"` + strings.Repeat("x", 4096) + `"}`, true, ""},
		{"string of 4097 bytes", `{"s":"` + strings.Repeat("x", 4097) + `"}`, false, "is 4097 bytes; a string value must not exceed 4096 bytes"},
		{"string of 4095 bytes in 3-byte chars", `{"s":"` + strings.Repeat("€", 1365) + `"}`, true, ""},
		{"string of 4098 bytes in 3-byte chars", `{"s":"` + strings.Repeat("€", 1366) + `"}`, false, "must not exceed 4096 bytes"},
		{"long string in array", `{"a":["` + strings.Repeat("x", 4097) + `"]}`, false, "value of %s.a[0] is 4097 bytes"},
		// numbers
		{"max integer", `{"i":4503599627370495}`, true, ""},
		{"min integer", `{"i":-4503599627370496}`, true, ""},
		{"integer 2^52", `{"i":4503599627370496}`, false, "value of %s.i (4503599627370496) is an integer outside the supported range -4503599627370496 to 4503599627370495"},
		{"integer below -2^52", `{"i":-4503599627370497}`, false, "integer outside the supported range"},
		{"huge integer literal", `{"i":123456789012345678901234567890}`, false, "(1.2345678901234568e+29) is an integer outside"},
		{"integral exponent literal", `{"i":1e20}`, false, "integer outside the supported range"},
		{"integer in array", `{"a":[4503599627370496]}`, false, "value of %s.a[0]"},
		{"fraction near the limit", `{"f":4503599627370495.5}`, true, ""},
		{"small fraction", `{"f":-0.000001}`, true, ""},
		{"exponent in range", `{"f":1.5e15}`, true, ""},
		{"number overflowing float64", `{"f":1e400}`, false, "not a representable number"},
		// other values
		{"arrays of any values", `{"a":[1,"s",true,null,{"k":[]},[]]}`, true, ""},
		{"booleans", `{"t":true,"f":false}`, true, ""},
	}
	for _, w := range allWriters() {
		for _, tt := range tests {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				tw := seeded(t)
				before := snapshot(t, tw)
				err := w.apply(tw, tt.body, at(9))
				if err == errSkip {
					t.Skip(err)
				}
				if tt.ok {
					if err != nil {
						t.Fatalf("want success, got %v", err)
					}
					if err := checkLimits(tw); err != nil {
						t.Errorf("accepted write broke a limit: %v", err)
					}
					return
				}
				frag := tt.frag
				if strings.Contains(frag, "%s") {
					frag = fmt.Sprintf(frag, w.section)
				}
				assertInvalid(t, err, frag)
				if after := snapshot(t, tw); after != before {
					t.Errorf("rejected write changed the twin:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// sized returns an object whose IoT Hub size is exactly total (total >= 3),
// built from 3-character keys and strings of at most 4000 characters.
func sized(total int) string {
	var parts []string
	for i := 0; total > 0; i++ {
		chunk := min(total-3, 4000)
		if rest := total - 3 - chunk; rest > 0 && rest < 3 {
			chunk -= 3
		}
		parts = append(parts, fmt.Sprintf(`"k%02d":"%s"`, i, strings.Repeat("v", chunk)))
		total -= 3 + chunk
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestSizedHelper(t *testing.T) {
	for _, n := range []int{3, 4, 8192, 8193, 32768, 32769} {
		m := decode(t, sized(n)).(map[string]any)
		if got, err := oracleObject("x", m, 0, false); err != nil || got != n {
			t.Errorf("sized(%d) has size %d (%v)", n, got, err)
		}
	}
}

func TestSectionSizeLimits(t *testing.T) {
	type step struct {
		body string
		ok   bool
	}
	tests := []struct {
		name  string
		limit int
		kind  string // "tags", "desired" or "reported"
		steps []step
	}{
		{"tags at the limit", 8192, "tags", []step{{sized(8192), true}}},
		{"tags one over", 8192, "tags", []step{{sized(8193), false}}},
		{"desired at the limit", 32768, "desired", []step{{sized(32768), true}}},
		{"desired one over", 32768, "desired", []step{{sized(32769), false}}},
		{"reported at the limit", 32768, "reported", []step{{sized(32768), true}}},
		{"reported one over", 32768, "reported", []step{{sized(32769), false}}},
		{"size counts the result of the merge", 32768, "desired", []step{
			{sized(32000), true}, {`{"new":"` + strings.Repeat("x", 1000) + `"}`, false}}},
		{"deleting makes room", 32768, "reported", []step{
			{sized(32768), true}, {`{"k00":null,"new":"` + strings.Repeat("x", 3000) + `"}`, true}}},
		{"numbers count 8 and booleans 4", 8192, "tags", []step{
			{sized(8192 - 3 - 8 - 3 - 4), true}, {`{"n00":1,"b00":true}`, true}, {`{"x":1}`, false}}},
		{"control characters do not count", 8192, "tags", []step{
			{sized(8192), true},
			{`{"k00":"` + strings.Repeat("v", 4000) + strings.Repeat(`\u0001\u0085`, 30) + `"}`, true},
			{`{"k00":"` + strings.Repeat("v", 4001) + `"}`, false}}},
		{"keys count characters, not bytes", 8192, "tags", []step{
			{sized(8192 - 10), true}, {`{"ééééé":"vvvvv"}`, true}, {`{"x":"y"}`, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := twin.New(at(0))
			for i, s := range tt.steps {
				before := snapshot(t, tw)
				var err error
				switch tt.kind {
				case "tags":
					_, err = tw.Patch(parse(t, `{"tags":`+s.body+`}`), at(i+1))
				case "desired":
					_, err = tw.Patch(parse(t, `{"properties":{"desired":`+s.body+`}}`), at(i+1))
				case "reported":
					_, err = tw.PatchReported([]byte(s.body), at(i+1))
				}
				if s.ok {
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					continue
				}
				assertInvalid(t, err, fmt.Sprintf("the limit is %d bytes", tt.limit))
				if snapshot(t, tw) != before {
					t.Errorf("step %d: rejected write changed the twin", i)
				}
			}
			if err := checkLimits(tw); err != nil {
				t.Error(err)
			}
		})
	}
}

// A replace that would put desired over its limit is refused as a whole,
// tags included.
func TestReplaceOverLimitChangesNothing(t *testing.T) {
	tw := seeded(t)
	before := snapshot(t, tw)
	_, err := tw.Replace(parse(t, `{"tags":{"a":1},"properties":{"desired":`+sized(32769)+`}}`), at(5))
	assertInvalid(t, err, "properties.desired would be 32769 bytes")
	if snapshot(t, tw) != before {
		t.Error("rejected replace changed the twin")
	}
}

func TestReportedBodyShape(t *testing.T) {
	tests := []struct {
		name, body, frag string
	}{
		{"empty", ``, "is empty"},
		{"whitespace", " \n", "is empty"},
		{"array", `[{"a":1}]`, "must be a JSON object, not an array"},
		{"string", `"a"`, "not a string"},
		{"number", `1`, "not a number"},
		{"boolean", `true`, "not a boolean"},
		{"null", `null`, "not null"},
		{"truncated", `{"a":1`, "not valid JSON"},
		{"syntax error", `{a:1}`, "not valid JSON"},
		{"two objects", `{"a":1}{"b":2}`, "data after the JSON object"},
		{"trailing garbage", `{"a":1} x`, "data after the JSON object"},
		{"top-level $version", `{"$version":3}`, "must not contain '$'"},
		{"top-level $metadata", `{"a":1,"$metadata":{}}`, "must not contain '$'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := seeded(t)
			before := snapshot(t, tw)
			v, err := tw.PatchReported([]byte(tt.body), at(5))
			assertInvalid(t, err, tt.frag)
			if v != 0 {
				t.Errorf("version %d returned with an error", v)
			}
			if snapshot(t, tw) != before {
				t.Error("rejected patch changed the twin")
			}
		})
	}
	// Trailing whitespace after the object is fine.
	tw := seeded(t)
	if _, err := tw.PatchReported([]byte("{\"a\":1}\r\n "), at(5)); err != nil {
		t.Errorf("trailing whitespace: %v", err)
	}
}

func TestServiceBodyShape(t *testing.T) {
	tests := []struct {
		name, body, frag string
	}{
		{"empty", ``, "is empty"},
		{"array", `[]`, "twin body must be a JSON object, not an array"},
		{"null", `null`, "not null"},
		{"string", `"x"`, "not a string"},
		{"invalid JSON", `{"tags":`, "not valid JSON"},
		{"trailing data", `{"tags":{}} {}`, "data after the JSON object"},
		{"tags a number", `{"tags":1}`, "tags must be a JSON object, not a number"},
		{"tags an array", `{"tags":[]}`, "tags must be a JSON object, not an array"},
		{"properties a string", `{"properties":"x"}`, "properties must be a JSON object, not a string"},
		{"desired an array", `{"properties":{"desired":[1]}}`, "properties.desired must be a JSON object, not an array"},
		{"desired a boolean", `{"properties":{"desired":false}}`, "properties.desired must be a JSON object, not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := twin.ParseServiceBody([]byte(tt.body))
			assertInvalid(t, err, tt.frag)
			if u.HasTags || u.HasDesired || u.Tags != nil || u.Desired != nil {
				t.Errorf("partial update returned with an error: %+v", u)
			}
		})
	}
}

// Values a Go caller might put in a ServiceUpdate by mistake are refused,
// not stored.
func TestDirectUpdateUnsupportedValues(t *testing.T) {
	tests := []struct {
		name  string
		value any
		frag  string
	}{
		{"int", 3, "unsupported type int"},
		{"struct", struct{}{}, "unsupported type struct {}"},
		{"NaN", nan(), "not a finite number"},
		{"json.Number out of range", json.Number("4503599627370496"), "outside the supported range"},
		{"json.Number garbage", json.Number("1x"), "not a representable number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := seeded(t)
			before := snapshot(t, tw)
			_, err := tw.Patch(twin.ServiceUpdate{Desired: map[string]any{"v": tt.value}, HasDesired: true}, at(5))
			assertInvalid(t, err, tt.frag)
			if snapshot(t, tw) != before {
				t.Error("rejected patch changed the twin")
			}
		})
	}
}
