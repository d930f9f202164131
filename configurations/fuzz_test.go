package configurations

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParse: any body is refused with a catalogue error or yields a
// configuration whose content encodes as a desired-properties patch.
func FuzzParse(f *testing.F) {
	f.Add("cfg", `{"content":{"deviceContent":{"properties.desired.a.b":1}},"targetCondition":"tags.x = 1","priority":2}`)
	f.Add("cfg", `{"content":{"modulesContent":{"$edgeAgent":{}}},"metrics":{"queries":{"m":"SELECT deviceId FROM devices"}}}`)
	f.Add("Bad", `{}`)
	f.Fuzz(func(t *testing.T, id, body string) {
		c, err := Parse(id, []byte(body))
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a catalogue error", err)
			}
			return
		}
		p, err := c.patch()
		if err != nil || !json.Valid(p) {
			t.Fatalf("patch %s: %v", p, err)
		}
	})
}
