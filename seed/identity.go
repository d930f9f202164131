package seed

import (
	"slices"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// deviceInput is the registry body that gives a device what the document
// says; cur is the device as it is (nil when it is to be created), whose
// keys fill those the document leaves out and whose fields the document
// does not describe (status reason, scopes) are kept.
func deviceInput(d *Device, cur *registry.Device) registry.DeviceInput {
	in := registry.DeviceInput{
		DeviceID:       d.ID,
		Status:         d.Status,
		Authentication: authentication(d.Auth, d.Keys, d.Thumbprints, curAuth(cur)),
		Capabilities:   &registry.Capabilities{IotEdge: d.Edge},
	}
	if cur != nil {
		in.StatusReason = cur.StatusReason
		in.DeviceScope = cur.DeviceScope
		in.ParentScopes = slices.Clone(cur.ParentScopes)
	}
	return in
}

// moduleInput is deviceInput for a module.
func moduleInput(deviceID string, m *Module, cur *registry.Module) registry.ModuleInput {
	in := registry.ModuleInput{
		ModuleID:       m.ID,
		DeviceID:       deviceID,
		Authentication: authentication(m.Auth, m.Keys, m.Thumbprints, nil),
	}
	if cur != nil {
		in.ManagedBy = cur.ManagedBy
		in.Authentication = authentication(m.Auth, m.Keys, m.Thumbprints, &cur.Authentication)
	}
	return in
}

func curAuth(cur *registry.Device) *registry.Authentication {
	if cur == nil {
		return nil
	}
	return &cur.Authentication
}

// authentication builds the registry's credentials. Keys the document
// leaves out come from cur when it has them, else stay empty for the
// registry to generate.
func authentication(typ string, keys *Keys, thumbs *Thumbprints, cur *registry.Authentication) *registry.Authentication {
	a := &registry.Authentication{Type: typ}
	switch typ {
	case registry.AuthSAS:
		k := &registry.SymmetricKey{}
		if cur != nil && cur.SymmetricKey != nil {
			*k = *cur.SymmetricKey
		}
		if keys != nil && keys.Primary != "" {
			k.PrimaryKey = keys.Primary
		}
		if keys != nil && keys.Secondary != "" {
			k.SecondaryKey = keys.Secondary
		}
		a.SymmetricKey = k
	case registry.AuthSelfSigned:
		if thumbs != nil {
			a.X509Thumbprint.PrimaryThumbprint = strPtr(thumbs.Primary)
			a.X509Thumbprint.SecondaryThumbprint = strPtr(thumbs.Secondary)
		}
	}
	return a
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// sameAuth reports whether the registry's credentials already are want.
func sameAuth(cur registry.Authentication, want *registry.Authentication) bool {
	if cur.Type != want.Type {
		return false
	}
	if (cur.SymmetricKey == nil) != (want.SymmetricKey == nil) {
		return false
	}
	if cur.SymmetricKey != nil && *cur.SymmetricKey != *want.SymmetricKey {
		return false
	}
	return deref(cur.X509Thumbprint.PrimaryThumbprint) == deref(want.X509Thumbprint.PrimaryThumbprint) &&
		deref(cur.X509Thumbprint.SecondaryThumbprint) == deref(want.X509Thumbprint.SecondaryThumbprint)
}
