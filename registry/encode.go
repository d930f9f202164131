package registry

import (
	"strconv"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonenc"
)

// The hub stores an identity record on every registry write and every
// bulk create; encoding/json spent most of that time on reflection and on
// checking Authentication's MarshalJSON output. These write the same
// bytes json.Marshal writes (a test checks), by hand.

// AppendJSON appends d as json.Marshal(d) writes it.
func (d *Device) AppendJSON(b []byte) []byte {
	b = append(b, `{"deviceId":`...)
	b = jsonenc.AppendString(b, d.DeviceID)
	b = append(b, `,"generationId":`...)
	b = jsonenc.AppendString(b, d.GenerationID)
	b = append(b, `,"etag":`...)
	b = jsonenc.AppendString(b, d.ETag)
	b = append(b, `,"connectionState":`...)
	b = jsonenc.AppendString(b, d.ConnectionState)
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, d.Status)
	b = append(b, `,"statusReason":`...)
	b = appendOptString(b, d.StatusReason)
	b = append(b, `,"connectionStateUpdatedTime":`...)
	b = jsonenc.AppendString(b, d.ConnectionStateUpdatedTime)
	b = append(b, `,"statusUpdatedTime":`...)
	b = jsonenc.AppendString(b, d.StatusUpdatedTime)
	b = append(b, `,"lastActivityTime":`...)
	b = jsonenc.AppendString(b, d.LastActivityTime)
	b = append(b, `,"cloudToDeviceMessageCount":`...)
	b = strconv.AppendInt(b, int64(d.CloudToDeviceMessageCount), 10)
	b = append(b, `,"authentication":`...)
	b = d.Authentication.appendJSON(b)
	b = append(b, `,"capabilities":{"iotEdge":`...)
	b = strconv.AppendBool(b, d.Capabilities.IotEdge)
	b = append(b, '}')
	if d.DeviceScope != "" {
		b = append(b, `,"deviceScope":`...)
		b = jsonenc.AppendString(b, d.DeviceScope)
	}
	if len(d.ParentScopes) > 0 {
		b = append(b, `,"parentScopes":[`...)
		for i, s := range d.ParentScopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// AppendJSON appends m as json.Marshal(m) writes it.
func (m *Module) AppendJSON(b []byte) []byte {
	b = append(b, `{"moduleId":`...)
	b = jsonenc.AppendString(b, m.ModuleID)
	if m.ManagedBy != "" {
		b = append(b, `,"managedBy":`...)
		b = jsonenc.AppendString(b, m.ManagedBy)
	}
	b = append(b, `,"deviceId":`...)
	b = jsonenc.AppendString(b, m.DeviceID)
	b = append(b, `,"generationId":`...)
	b = jsonenc.AppendString(b, m.GenerationID)
	b = append(b, `,"etag":`...)
	b = jsonenc.AppendString(b, m.ETag)
	b = append(b, `,"connectionState":`...)
	b = jsonenc.AppendString(b, m.ConnectionState)
	b = append(b, `,"connectionStateUpdatedTime":`...)
	b = jsonenc.AppendString(b, m.ConnectionStateUpdatedTime)
	b = append(b, `,"lastActivityTime":`...)
	b = jsonenc.AppendString(b, m.LastActivityTime)
	b = append(b, `,"cloudToDeviceMessageCount":`...)
	b = strconv.AppendInt(b, int64(m.CloudToDeviceMessageCount), 10)
	b = append(b, `,"authentication":`...)
	b = m.Authentication.appendJSON(b)
	return append(b, '}')
}

// appendJSON appends a as its MarshalJSON writes it (authWire's shape).
func (a Authentication) appendJSON(b []byte) []byte {
	b = append(b, `{"symmetricKey":{"primaryKey":`...)
	if k := a.SymmetricKey; k != nil {
		b = jsonenc.AppendString(b, k.PrimaryKey)
		b = append(b, `,"secondaryKey":`...)
		b = jsonenc.AppendString(b, k.SecondaryKey)
	} else {
		b = append(b, `null,"secondaryKey":null`...)
	}
	b = append(b, `},"x509Thumbprint":{"primaryThumbprint":`...)
	b = appendOptString(b, a.X509Thumbprint.PrimaryThumbprint)
	b = append(b, `,"secondaryThumbprint":`...)
	b = appendOptString(b, a.X509Thumbprint.SecondaryThumbprint)
	b = append(b, `},"type":`...)
	b = jsonenc.AppendString(b, a.Type)
	return append(b, '}')
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return jsonenc.AppendString(b, *s)
}
