package registry

import (
	"encoding/json"
	"testing"
)

func sameEncoding(t *testing.T, d Device, m Module) {
	t.Helper()
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.AppendJSON(nil); string(got) != string(want) {
		t.Fatalf("device:\n got %s\nwant %s", got, want)
	}
	if want, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if got := m.AppendJSON(nil); string(got) != string(want) {
		t.Fatalf("module:\n got %s\nwant %s", got, want)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	reason, thumb := "maintenance <now> & \"then\"", "AB12"
	full := Device{
		DeviceID: "d1", GenerationID: "6390", ETag: "MQ==", ConnectionState: Connected, Status: StatusDisabled,
		StatusReason: &reason, ConnectionStateUpdatedTime: "2026-01-02T03:04:05.6789012Z", StatusUpdatedTime: NeverTime,
		LastActivityTime: NeverTime, CloudToDeviceMessageCount: 7,
		Authentication: Authentication{Type: AuthSAS, SymmetricKey: &SymmetricKey{PrimaryKey: "a+b/c==", SecondaryKey: "é"}},
		Capabilities:   Capabilities{IotEdge: true}, DeviceScope: "ms-azure-iot-edge://e-1", ParentScopes: []string{"p1", "p2"},
	}
	mod := Module{ModuleID: "m1", ManagedBy: "iotEdge", DeviceID: "d1", GenerationID: "1", ETag: "Mg==",
		ConnectionState: Disconnected, ConnectionStateUpdatedTime: NeverTime, LastActivityTime: NeverTime,
		Authentication: Authentication{Type: AuthSelfSigned, X509Thumbprint: X509Thumbprint{PrimaryThumbprint: &thumb}}}
	sameEncoding(t, full, mod)
	sameEncoding(t, Device{}, Module{})
	sameEncoding(t, Device{DeviceID: "x", Authentication: Authentication{Type: AuthNone}}, Module{ModuleID: "y", Authentication: Authentication{Type: AuthCertificateAuthority}})
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("d1", "reason", "key", "thumb", "scope", 3, true)
	f.Add("\u2028<", "\xff", "", "", "", 0, false)
	f.Fuzz(func(t *testing.T, id, reason, key, thumb, scope string, count int, edge bool) {
		d := Device{DeviceID: id, StatusReason: &reason, CloudToDeviceMessageCount: count, DeviceScope: scope,
			Capabilities: Capabilities{IotEdge: edge}, ParentScopes: []string{scope, id}[:len(scope)%3],
			Authentication: Authentication{Type: key, SymmetricKey: &SymmetricKey{PrimaryKey: key, SecondaryKey: thumb}, X509Thumbprint: X509Thumbprint{SecondaryThumbprint: &thumb}}}
		m := Module{ModuleID: id, ManagedBy: scope, DeviceID: reason, CloudToDeviceMessageCount: count, Authentication: d.Authentication}
		sameEncoding(t, d, m)
	})
}
