package twin_test

import (
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// The same merge-patch rules hold for tags, desired and reported.
func TestMergeSemantics(t *testing.T) {
	base := `{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":"s"}`
	tests := []struct {
		name  string
		patch string
		want  string
	}{
		{"add top-level key", `{"h":2}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":"s","h":2}`},
		{"nested merge keeps siblings", `{"a":{"b":{"c":5}}}`,
			`{"a":{"b":{"c":5,"d":"x"},"e":true},"f":[1,2],"g":"s"}`},
		{"null deletes top-level", `{"g":null}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2]}`},
		{"null deletes at depth 3", `{"a":{"b":{"d":null}}}`,
			`{"a":{"b":{"c":1},"e":true},"f":[1,2],"g":"s"}`},
		{"null deletes a whole object", `{"a":{"b":null}}`,
			`{"a":{"e":true},"f":[1,2],"g":"s"}`},
		{"null on a missing key is a no-op", `{"zz":null,"a":{"yy":null}}`, base},
		{"array replaces array", `{"f":[3]}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[3],"g":"s"}`},
		{"array is not merged element-wise", `{"f":[{"x":1}]}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[{"x":1}],"g":"s"}`},
		{"array keeps its nulls", `{"f":[null,1]}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[null,1],"g":"s"}`},
		{"object replaces scalar", `{"g":{"h":1}}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":{"h":1}}`},
		{"scalar replaces object", `{"a":3}`,
			`{"f":[1,2],"g":"s","a":3}`},
		{"array replaces object", `{"a":[1]}`,
			`{"f":[1,2],"g":"s","a":[1]}`},
		{"object replaces array", `{"f":{"x":1}}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":{"x":1},"g":"s"}`},
		{"new object drops its nulls", `{"n":{"p":1,"q":null,"r":{"s":null}}}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":"s","n":{"p":1,"r":{}}}`},
		{"empty object patch creates an empty object", `{"n":{}}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":"s","n":{}}`},
		{"empty object patch keeps an existing object", `{"a":{}}`, base},
		{"empty patch", `{}`, base},
		{"unicode keys and values", `{"clé":"välue","日本":{"語":1.5}}`,
			`{"a":{"b":{"c":1,"d":"x"},"e":true},"f":[1,2],"g":"s","clé":"välue","日本":{"語":1.5}}`},
	}
	sections := []struct {
		name  string
		apply func(t *testing.T, tw *twin.Twin, p string)
		get   func(tw *twin.Twin) map[string]any
	}{
		{"tags",
			func(t *testing.T, tw *twin.Twin, p string) { patch(t, tw, `{"tags":`+p+`}`, at(1)) },
			func(tw *twin.Twin) map[string]any { return tw.Tags() }},
		{"desired",
			func(t *testing.T, tw *twin.Twin, p string) { patch(t, tw, `{"properties":{"desired":`+p+`}}`, at(1)) },
			func(tw *twin.Twin) map[string]any { return content(tw.Properties()["desired"].(map[string]any)) }},
		{"reported",
			func(t *testing.T, tw *twin.Twin, p string) { report(t, tw, p, at(1)) },
			func(tw *twin.Twin) map[string]any { return content(tw.Properties()["reported"].(map[string]any)) }},
	}
	for _, s := range sections {
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				tw := twin.New(at(0))
				s.apply(t, tw, base)
				s.apply(t, tw, tt.patch)
				assertJSON(t, s.name, s.get(tw), tt.want)
				if err := checkLimits(tw); err != nil {
					t.Errorf("limits: %v", err)
				}
			})
		}
	}
}

// A service patch touches only the sections its body carries.
func TestPatchSectionsAreIndependent(t *testing.T) {
	tw := twin.New(at(0))
	patch(t, tw, `{"tags":{"t":1},"properties":{"desired":{"d":1}}}`, at(1))
	report(t, tw, `{"r":1}`, at(2))

	patch(t, tw, `{"tags":{"t":2}}`, at(3))
	assertJSON(t, "tags", tw.Tags(), `{"t":2}`)
	assertJSON(t, "desired", content(tw.Properties()["desired"].(map[string]any)), `{"d":1}`)

	patch(t, tw, `{"properties":{"desired":{"d":2}}}`, at(4))
	assertJSON(t, "tags", tw.Tags(), `{"t":2}`)
	assertJSON(t, "desired", content(tw.Properties()["desired"].(map[string]any)), `{"d":2}`)
	assertJSON(t, "reported", content(tw.Properties()["reported"].(map[string]any)), `{"r":1}`)
}

// Fields the SDKs copy into PATCH/PUT bodies are ignored, not rejected.
func TestParseServiceBodyIgnoresReadOnlyFields(t *testing.T) {
	body := `{
		"deviceId":"dev-1","moduleId":"m","etag":"AAAAAAAAAAE=","version":7,"status":"enabled",
		"connectionState":"Connected","x509Thumbprint":{"primaryThumbprint":null},
		"capabilities":{"iotEdge":false},
		"tags":{"loc":"eu"},
		"properties":{
			"desired":{"$metadata":{"$lastUpdated":"2020-01-01T00:00:00Z"},"$version":9,"k":1},
			"reported":{"bad.key":1,"$version":4}
		}}`
	u := parse(t, body)
	if !u.HasTags || !u.HasDesired {
		t.Fatalf("HasTags=%v HasDesired=%v, want both", u.HasTags, u.HasDesired)
	}
	assertJSON(t, "tags", u.Tags, `{"loc":"eu"}`)
	assertJSON(t, "desired", u.Desired, `{"k":1}`)
}

func TestParseServiceBodyAbsentSections(t *testing.T) {
	tests := []struct {
		body                string
		hasTags, hasDesired bool
	}{
		{`{"tags":null,"properties":{"desired":{}}}`, false, true},
		{`{"tags":{},"properties":null}`, true, false},
		{`{"tags":{}}`, true, false},
		{`{"properties":{"desired":{}}}`, false, true},
		{`{"tags":{"a":1},"properties":{"desired":{"b":2}}}`, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			u := parse(t, tt.body)
			if u.HasTags != tt.hasTags || u.HasDesired != tt.hasDesired {
				t.Errorf("HasTags=%v HasDesired=%v, want %v %v", u.HasTags, u.HasDesired, tt.hasTags, tt.hasDesired)
			}
			if (u.Tags != nil) != tt.hasTags || (u.Desired != nil) != tt.hasDesired {
				t.Errorf("Tags=%v Desired=%v do not match Has flags", u.Tags, u.Desired)
			}
		})
	}
}

// Numbers come out of parsing as float64 and go back out as integers.
func TestNumbersAreFloat64AndPrintAsIntegers(t *testing.T) {
	u := parse(t, `{"properties":{"desired":{"i":4503599627370495,"n":-4503599627370496,"f":1.5,"e":2e3,"a":[7]}}}`)
	for k, want := range map[string]float64{"i": 4503599627370495, "n": -4503599627370496, "f": 1.5, "e": 2000} {
		if got, ok := u.Desired[k].(float64); !ok || got != want {
			t.Errorf("%s = %#v, want float64 %v", k, u.Desired[k], want)
		}
	}
	if _, ok := u.Desired["a"].([]any)[0].(float64); !ok {
		t.Errorf("array element is %T, want float64", u.Desired["a"].([]any)[0])
	}
	tw := twin.New(at(0))
	if _, err := tw.Patch(u, at(1)); err != nil {
		t.Fatal(err)
	}
	want := `{"desired":{"$version":2,"a":[7],"e":2000,"f":1.5,"i":4503599627370495,"n":-4503599627370496},"reported":{"$version":1}}`
	if got := string(tw.DeviceJSON()); got != want {
		t.Errorf("DeviceJSON\n got %s\nwant %s", got, want)
	}
}

// Bodies that would write nothing the service may write, or keys IoT Hub
// refuses, are refused whole: no silent drop, no version bump.
func TestParseServiceBodyRefuses(t *testing.T) {
	tests := []struct{ name, body, wantMsg string }{
		{"empty object", `{}`, "writes nothing"},
		{"null sections only", `{"tags":null,"properties":null}`, "writes nothing"},
		{"empty properties", `{"properties":{}}`, "writes nothing"},
		{"reported only", `{"properties":{"reported":{"a":1}}}`, "writes nothing"},
		{"identity fields only", `{"deviceId":"d","etag":"x","version":3}`, "writes nothing"},
		{"unknown top-level member", `{"tags":{"a":1},"desired":{"b":1}}`, `"desired" is not a member of a twin`},
		{"unknown properties member", `{"properties":{"desird":{"b":1}}}`, `"desird" is not a member`},
		{"deviceId not a string", `{"deviceId":7,"tags":{"a":1}}`, "deviceId must be a string"},
		{"$ at the top of tags", `{"tags":{"$etag":"x","a":1}}`, `"$etag" in tags`},
		{"$ key in desired", `{"properties":{"desired":{"$foo":1}}}`, `"$foo" in properties.desired`},
		{"$ nested in desired", `{"properties":{"desired":{"a":{"$metadata":1}}}}`, `"$metadata" in properties.desired.a`},
		{"dot in tags", `{"tags":{"a.b":1}}`, "'.'"},
		{"space in desired", `{"properties":{"desired":{"a b":1}}}`, "space"},
		{"control character", `{"tags":{"a\u0007":1}}`, "control character"},
		{"invalid UTF-8", "{\"tags\":{\"a\":\"\xff\"}}", "invalid UTF-8"},
		{"unpaired surrogate", `{"tags":{"a":"\udc00"}}`, "surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := twin.ParseServiceBody([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseServiceBody(%s) accepted", tt.body)
			}
			if e := errcode.From(err); e.Code != errcode.ArgumentInvalid {
				t.Errorf("code = %v, want ArgumentInvalid", e.Code)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestPatchReportedRefusesInvalidText(t *testing.T) {
	for _, body := range []string{"{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a":{"b":"x\udfff"}}`} {
		tw := twin.New(at(0))
		before := snapshot(t, tw)
		if _, err := tw.PatchReported([]byte(body), at(1)); errcode.From(err).Code != errcode.ArgumentInvalid {
			t.Errorf("PatchReported(%q) = %v, want ArgumentInvalid", body, err)
		}
		if after := snapshot(t, tw); after != before {
			t.Errorf("refused patch %q changed the twin", body)
		}
	}
}
