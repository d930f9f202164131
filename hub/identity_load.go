package hub

import (
	"encoding/json"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonscan"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// scanRecord reads an identity record as record writes it, without
// reflection: a start reads one per identity. Anything else (other
// spellings of the members, nulls where record writes objects, escapes in
// keys, duplicates) is not ok, and the caller uses encoding/json, which
// then reads it or refuses it.
func scanRecord(b []byte) (storedRecord, bool) {
	s := jsonscan.New(b)
	var rec storedRecord
	var seen uint8
	s.Object(func(k []byte) {
		bit, ok := recordMembers[string(k)]
		if !ok || seen&bit != 0 {
			s.Fail()
			return
		}
		seen |= bit
		switch string(k) {
		case "device":
			rec.Device = scanIdentity(s)
		case "module":
			rec.Module = scanIdentity(s)
		case "etagSeq":
			rec.ETagSeq = s.Int()
		case "modelId":
			rec.ModelID = s.String()
		default: // configurations
			rec.Configurations = map[string]string{}
			s.Object(func(k []byte) {
				id := string(k)
				if _, dup := rec.Configurations[id]; dup {
					s.Fail()
				}
				rec.Configurations[id] = s.String()
			})
		}
	})
	if s.Failed() || !s.End() {
		return storedRecord{}, false
	}
	return rec, true
}

// recordMembers are the members of a stored record.
var recordMembers = map[string]uint8{"device": 1, "module": 2, "etagSeq": 4, "modelId": 8, "configurations": 16}

// scanIdentity reads the device or module object of a record.
func scanIdentity(s *jsonscan.Scanner) *storedIdentity {
	var id storedIdentity
	var seen uint32
	s.Object(func(k []byte) {
		bit, ok := identityMembers[string(k)]
		if !ok || seen&bit != 0 {
			s.Fail()
			return
		}
		seen |= bit
		switch string(k) {
		case "deviceId":
			id.DeviceID = s.String()
		case "moduleId":
			id.ModuleID = s.String()
		case "managedBy":
			id.ManagedBy = s.String()
		case "generationId":
			id.GenerationID = s.String()
		case "etag":
			id.ETag = s.String()
		case "connectionState":
			id.ConnectionState = s.String()
		case "status":
			id.Status = s.String()
		case "statusReason":
			id.StatusReason = s.OptString()
		case "connectionStateUpdatedTime":
			id.ConnectionStateUpdatedTime = s.String()
		case "statusUpdatedTime":
			id.StatusUpdatedTime = s.String()
		case "lastActivityTime":
			id.LastActivityTime = s.String()
		case "cloudToDeviceMessageCount":
			id.CloudToDeviceMessageCount = int(s.Int())
		case "authentication":
			id.Authentication = scanAuthentication(s)
		case "capabilities":
			s.Object(func(k []byte) {
				if string(k) != "iotEdge" {
					s.Fail()
					return
				}
				id.Capabilities.IotEdge = s.Bool()
			})
		case "deviceScope":
			id.DeviceScope = s.String()
		case "parentScopes":
			raw := s.Skip()
			if s.Failed() || json.Unmarshal(raw, &id.ParentScopes) != nil {
				s.Fail()
			}
		}
	})
	return &id
}

// identityMembers are the members of a stored device or module object.
var identityMembers = func() map[string]uint32 {
	names := []string{"deviceId", "moduleId", "managedBy", "generationId", "etag",
		"connectionState", "status", "statusReason", "connectionStateUpdatedTime",
		"statusUpdatedTime", "lastActivityTime", "cloudToDeviceMessageCount",
		"authentication", "capabilities", "deviceScope", "parentScopes"}
	m := make(map[string]uint32, len(names))
	for i, n := range names {
		m[n] = 1 << i
	}
	return m
}()

// scanAuthentication reads authentication as registry.Authentication's
// UnmarshalJSON does: a symmetricKey whose keys are both null or empty is
// no key at all.
func scanAuthentication(s *jsonscan.Scanner) registry.Authentication {
	var a registry.Authentication
	var seen [3]bool
	once := func(i int) {
		if seen[i] {
			s.Fail()
		}
		seen[i] = true
	}
	s.Object(func(k []byte) {
		switch string(k) {
		case "symmetricKey":
			once(0)
			if s.Null() {
				return
			}
			var sk registry.SymmetricKey
			var got [2]bool
			s.Object(func(k []byte) {
				var v *string
				switch string(k) {
				case "primaryKey":
					if got[0] {
						s.Fail()
					}
					got[0] = true
					if v = s.OptString(); v != nil {
						sk.PrimaryKey = *v
					}
				case "secondaryKey":
					if got[1] {
						s.Fail()
					}
					got[1] = true
					if v = s.OptString(); v != nil {
						sk.SecondaryKey = *v
					}
				default:
					s.Fail()
				}
			})
			if sk != (registry.SymmetricKey{}) {
				a.SymmetricKey = &sk
			}
		case "x509Thumbprint":
			once(1)
			var got [2]bool
			s.Object(func(k []byte) {
				switch string(k) {
				case "primaryThumbprint":
					if got[0] {
						s.Fail()
					}
					got[0] = true
					a.X509Thumbprint.PrimaryThumbprint = s.OptString()
				case "secondaryThumbprint":
					if got[1] {
						s.Fail()
					}
					got[1] = true
					a.X509Thumbprint.SecondaryThumbprint = s.OptString()
				default:
					s.Fail()
				}
			})
		case "type":
			once(2)
			a.Type = s.String()
		default:
			s.Fail()
		}
	})
	return a
}
