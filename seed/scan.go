package seed

import (
	"encoding/json"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonscan"
)

// scanDocument reads a JSON seed document of the usual shape (an empty
// hub, devices with their modules and twins) without reflection and in one
// pass: a large fleet's import decodes thousands of twins a request, and
// encoding/json read each twin section twice more through
// Properties.UnmarshalJSON. Anything else (other members, other spellings,
// nulls, duplicates, escapes in names, numbers out of range) is not ok,
// and the caller uses parseJSON, which reads it or explains what is wrong.
func scanDocument(data []byte) (*Document, bool) {
	s := jsonscan.New(data)
	d := new(Document)
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		switch string(k) {
		case "hub":
			s.Once(&seen, 0)
			s.Object(func([]byte) { s.Fail() }) // no settings yet
		case "devices":
			s.Once(&seen, 1)
			d.Devices = []Device{} // as encoding/json makes of []
			array(s, func() {
				d.Devices = append(d.Devices, scanDevice(s))
			})
		default:
			s.Fail()
		}
	})
	if s.Failed() || !s.End() {
		return nil, false
	}
	return d, true
}

// array calls item for each element of a JSON array.
func array(s *jsonscan.Scanner, item func()) {
	s.Expect('[')
	if s.Failed() {
		return
	}
	if s.Peek() == ']' {
		s.Expect(']')
		return
	}
	for !s.Failed() {
		item()
		if s.Peek() == ',' {
			s.Expect(',')
			continue
		}
		s.Expect(']')
		return
	}
}

var (
	deviceMembers = jsonscan.NewNames("id", "status", "edge", "auth", "keys", "thumbprints", "tags", "desired", "reported", "modules")
	moduleMembers = jsonscan.NewNames("id", "auth", "keys", "thumbprints", "tags", "desired", "reported")
)

func scanDevice(s *jsonscan.Scanner) Device {
	var d Device
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		if !s.Member(deviceMembers, &seen, k) {
			return
		}
		switch string(k) {
		case "status":
			d.Status = s.String()
		case "edge":
			d.Edge = s.Bool()
		case "modules":
			d.Modules = []Module{}
			array(s, func() { d.Modules = append(d.Modules, scanModule(s)) })
		default:
			scanShared(s, string(k), &d.ID, &d.Auth, &d.Keys, &d.Thumbprints, &d.Tags, &d.Desired, &d.Reported)
		}
	})
	return d
}

func scanModule(s *jsonscan.Scanner) Module {
	var m Module
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		if s.Member(moduleMembers, &seen, k) {
			scanShared(s, string(k), &m.ID, &m.Auth, &m.Keys, &m.Thumbprints, &m.Tags, &m.Desired, &m.Reported)
		}
	})
	return m
}

// scanShared reads a member devices and modules have alike.
func scanShared(s *jsonscan.Scanner, name string, id, auth *string, keys **Keys, thumbprints **Thumbprints, tags, desired, reported *Properties) {
	switch name {
	case "id":
		*id = s.String()
	case "auth":
		*auth = s.String()
	case "keys":
		*keys = scanKeys(s)
	case "thumbprints":
		t := Thumbprints(*scanKeys(s))
		*thumbprints = &t
	case "tags":
		*tags = scanProperties(s)
	case "desired":
		*desired = scanProperties(s)
	case "reported":
		*reported = scanProperties(s)
	}
}

// scanKeys reads {"primary": ..., "secondary": ...}, as Keys or Thumbprints.
func scanKeys(s *jsonscan.Scanner) *Keys {
	var k Keys
	var seen jsonscan.Seen
	s.Object(func(name []byte) {
		if !s.Member(keyMembers, &seen, name) {
			return
		}
		if string(name) == "primary" {
			k.Primary = s.String()
		} else {
			k.Secondary = s.String()
		}
	})
	return &k
}

var keyMembers = jsonscan.NewNames("primary", "secondary")

// scanProperties reads a twin section as Properties.UnmarshalJSON does: an
// object whose null members are gone.
func scanProperties(s *jsonscan.Scanner) Properties {
	if s.Peek() != '{' {
		s.Fail()
		return nil
	}
	return Properties(scanObject(s))
}

func scanObject(s *jsonscan.Scanner) map[string]any {
	m := map[string]any{}
	s.Object(func(k []byte) {
		name := string(k)
		if _, dup := m[name]; dup {
			s.Fail()
		}
		// A null member is absent. A duplicate after a value fails (what
		// encoding/json would keep is the last); one after a null reads
		// as encoding/json reads it.
		if v := scanValue(s); v != nil {
			m[name] = v
		}
	})
	return m
}

func scanValue(s *jsonscan.Scanner) any {
	switch s.Peek() {
	case '"':
		return s.String()
	case '{':
		return scanObject(s)
	case '[':
		raw := s.Skip()
		var v any
		if s.Failed() || json.Unmarshal(raw, &v) != nil {
			s.Fail()
			return nil
		}
		nv, err := normalize("", v)
		if err != nil {
			s.Fail()
		}
		return nv
	case 't', 'f':
		return s.Bool()
	case 'n':
		s.Null()
		return nil
	default:
		return s.Float()
	}
}
