package registry

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParseDeviceInput: a body is refused with ArgumentInvalid or
// ArgumentNull, or read into an input for the URL's device with its
// authentication filled in (a type, and keys for sas).
func FuzzParseDeviceInput(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"deviceId":"d1","status":"disabled","statusReason":"x"}`,
		`{"authentication":{"symmetricKey":{"primaryKey":"MDEyMzQ1Njc4OWFiY2RlZg==","secondaryKey":null},"type":"sas"}}`,
		`{"authentication":{"x509Thumbprint":{"primaryThumbprint":"AB"}}}`,
		`{"authentication":{"symmetricKey":{"primaryKey":"","secondaryKey":""}}}`,
		`{"authentication":null}`, `{"authentication":{"type":1}}`, `{"capabilities":{"iotEdge":true},"parentScopes":["s"]}`,
		`[]`, ``, `{"deviceId":"d2"}`, `{"Authentication":{"Type":"none"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseDeviceInput("d1", body)
		if err != nil {
			if !errcode.Is(err, errcode.ArgumentInvalid) && !errcode.Is(err, errcode.ArgumentNull) {
				t.Fatalf("error %v has no expected code", err)
			}
			return
		}
		a := in.Authentication
		if in.DeviceID != "d1" || a == nil || a.Type == "" {
			t.Fatalf("accepted %s as %+v", body, in)
		}
		if a.Type == AuthSAS && (a.SymmetricKey == nil || a.SymmetricKey.PrimaryKey == "" || a.SymmetricKey.SecondaryKey == "") {
			t.Fatalf("accepted %s as sas without both keys: %+v", body, a.SymmetricKey)
		}
	})
}
