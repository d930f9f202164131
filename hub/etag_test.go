package hub

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestETagMatches(t *testing.T) {
	const cur = "AAAAAAAAAAI="
	tests := []struct {
		ifMatch string
		want    bool
	}{
		{"", true}, // no condition
		{"*", true},
		{`"*"`, true},
		{" * ", true},
		{cur, true},
		{`"` + cur + `"`, true},
		{`W/"` + cur + `"`, true},
		{`""`, false},
		{`W/""`, false},
		{`"""`, false},
		{`""""`, false},
		{`"`, false},
		{`W/`, false},
		{`"` + cur, false},
		{cur + `"`, false},
		{`"` + cur + `""`, false},
		{`"AAAAAAAAAAE="`, false},
		{`"` + cur + `", "*"`, false}, // lists are not a wildcard
		{`W/"*"`, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.ifMatch, cur); got != tt.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tt.ifMatch, got, tt.want)
		}
	}
}

// Every conditional write refuses a malformed or empty entity tag and
// changes nothing.
func TestMalformedIfMatchRefusedEverywhere(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutModule(ctx, "d1", "m1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		d, _ := h.GetDevice(ctx, "d1")
		m, _ := h.GetModule(ctx, "d1", "m1")
		tw, _ := h.GetTwin(ctx, "d1", "")
		mtw, _ := h.GetTwin(ctx, "d1", "m1")
		b, _ := json.Marshal([]any{d, m, tw, mtw})
		return string(b)
	}
	before := snapshot()
	ops := map[string]func(ifMatch string) error{
		"device PUT": func(im string) error {
			_, err := h.PutDevice(ctx, "d1", []byte(`{"deviceId":"d1","status":"disabled"}`), im)
			return err
		},
		"device DELETE": func(im string) error { return h.DeleteDevice(ctx, "d1", im) },
		"module PUT": func(im string) error {
			_, err := h.PutModule(ctx, "d1", "m1", []byte(`{"deviceId":"d1","moduleId":"m1","managedBy":"x"}`), im)
			return err
		},
		"module DELETE": func(im string) error { return h.DeleteModule(ctx, "d1", "m1", im) },
		"twin PATCH": func(im string) error {
			_, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"a":1}}`), im, false)
			return err
		},
		"twin PUT": func(im string) error {
			_, err := h.UpdateTwin(ctx, "d1", "", []byte(`{"tags":{"a":1}}`), im, true)
			return err
		},
		"module twin PATCH": func(im string) error {
			_, err := h.UpdateTwin(ctx, "d1", "m1", []byte(`{"tags":{"a":1}}`), im, false)
			return err
		},
	}
	for name, op := range ops {
		for _, im := range []string{`""`, `W/""`, `"""`, `""""`, `"`, `W/`} {
			wantCode(t, op(im), errcode.PreconditionFailed)
			if after := snapshot(); after != before {
				t.Fatalf("%s with If-Match %s changed the hub:\nbefore %s\nafter  %s", name, im, before, after)
			}
		}
	}
}

func TestTwinBodyMustNameTheURLIdentity(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	if _, err := h.PutDevice(ctx, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutModule(ctx, "d1", "m1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, deviceID, moduleID, body string
		ok                             bool
	}{
		{"same device", "d1", "", `{"deviceId":"d1","tags":{"a":1}}`, true},
		{"same module", "d1", "m1", `{"deviceId":"d1","moduleId":"m1","tags":{"a":1}}`, true},
		{"no identity in the body", "d1", "", `{"tags":{"a":1}}`, true},
		{"other device", "d1", "", `{"deviceId":"d2","tags":{"a":1}}`, false},
		{"module body on a device twin", "d1", "", `{"moduleId":"m1","tags":{"a":1}}`, false},
		{"other module", "d1", "m1", `{"moduleId":"m2","tags":{"a":1}}`, false},
		{"ids differ only in case", "d1", "", `{"deviceId":"D1","tags":{"a":1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := h.GetTwin(ctx, tt.deviceID, tt.moduleID)
			_, err := h.UpdateTwin(ctx, tt.deviceID, tt.moduleID, []byte(tt.body), "*", false)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, errcode.ArgumentInvalid)
			after, _ := h.GetTwin(ctx, tt.deviceID, tt.moduleID)
			if before["version"] != after["version"] {
				t.Errorf("refused write moved the version %v -> %v", before["version"], after["version"])
			}
		})
	}
}
