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
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		if !s.Member(recordMembers, &seen, k) {
			return
		}
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
var recordMembers = jsonscan.NewNames("device", "module", "etagSeq", "modelId", "configurations")

// scanIdentity reads the device or module object of a record.
func scanIdentity(s *jsonscan.Scanner) *storedIdentity {
	var id storedIdentity
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		if !s.Member(identityMembers, &seen, k) {
			return
		}
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
			id.ConnectionState = knownString(s, connectionStates)
		case "status":
			id.Status = knownString(s, statuses)
		case "statusReason":
			id.StatusReason = s.OptString()
		case "connectionStateUpdatedTime":
			id.ConnectionStateUpdatedTime = knownString(s, neverTime)
		case "statusUpdatedTime":
			id.StatusUpdatedTime = knownString(s, neverTime)
		case "lastActivityTime":
			id.LastActivityTime = knownString(s, neverTime)
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

// The values most records hold, for knownString.
var (
	connectionStates = []string{registry.Disconnected, registry.Connected}
	statuses         = []string{registry.StatusEnabled, registry.StatusDisabled}
	neverTime        = []string{registry.NeverTime}
	authTypes        = []string{registry.AuthSAS, registry.AuthSelfSigned, registry.AuthCertificateAuthority, registry.AuthNone}
)

// knownString reads a string value as s.String does, handing back the
// string of known that it equals, if any, rather than a copy: a start
// reads 100,000 records that mostly say "Disconnected", "enabled", "sas"
// and that they were never connected.
func knownString(s *jsonscan.Scanner, known []string) string {
	b, ok := s.PlainString()
	if !ok {
		return s.String()
	}
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// identityMembers are the members of a stored device or module object.
var identityMembers = jsonscan.NewNames("deviceId", "moduleId", "managedBy", "generationId", "etag",
	"connectionState", "status", "statusReason", "connectionStateUpdatedTime",
	"statusUpdatedTime", "lastActivityTime", "cloudToDeviceMessageCount",
	"authentication", "capabilities", "deviceScope", "parentScopes")

// scanAuthentication reads authentication as registry.Authentication's
// UnmarshalJSON does: a symmetricKey whose keys are both null or empty is
// no key at all.
func scanAuthentication(s *jsonscan.Scanner) registry.Authentication {
	var a registry.Authentication
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		switch string(k) {
		case "symmetricKey":
			s.Once(&seen, 0)
			if s.Null() {
				return
			}
			var sk registry.SymmetricKey
			var got jsonscan.Seen
			s.Object(func(k []byte) {
				var v *string
				switch string(k) {
				case "primaryKey":
					s.Once(&got, 0)
					if v = s.OptString(); v != nil {
						sk.PrimaryKey = *v
					}
				case "secondaryKey":
					s.Once(&got, 1)
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
			s.Once(&seen, 1)
			var got jsonscan.Seen
			s.Object(func(k []byte) {
				switch string(k) {
				case "primaryThumbprint":
					s.Once(&got, 0)
					a.X509Thumbprint.PrimaryThumbprint = s.OptString()
				case "secondaryThumbprint":
					s.Once(&got, 1)
					a.X509Thumbprint.SecondaryThumbprint = s.OptString()
				default:
					s.Fail()
				}
			})
		case "type":
			s.Once(&seen, 2)
			a.Type = knownString(s, authTypes)
		default:
			s.Fail()
		}
	})
	return a
}
