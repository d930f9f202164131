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
	var seen [2]bool
	s.Object(func(k []byte) {
		switch string(k) {
		case "hub":
			if seen[0] {
				s.Fail()
			}
			seen[0] = true
			s.Object(func([]byte) { s.Fail() }) // no settings yet
		case "devices":
			if seen[1] {
				s.Fail()
			}
			seen[1] = true
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

// once marks member i seen, failing the scan on a duplicate.
func once(s *jsonscan.Scanner, seen *uint32, i uint) {
	if *seen&(1<<i) != 0 {
		s.Fail()
	}
	*seen |= 1 << i
}

func scanDevice(s *jsonscan.Scanner) Device {
	var d Device
	var seen uint32
	s.Object(func(k []byte) {
		switch string(k) {
		case "id":
			once(s, &seen, 0)
			d.ID = s.String()
		case "status":
			once(s, &seen, 1)
			d.Status = s.String()
		case "edge":
			once(s, &seen, 2)
			d.Edge = s.Bool()
		case "auth":
			once(s, &seen, 3)
			d.Auth = s.String()
		case "keys":
			once(s, &seen, 4)
			d.Keys = scanKeys(s)
		case "thumbprints":
			once(s, &seen, 5)
			t := Thumbprints(*scanKeys(s))
			d.Thumbprints = &t
		case "tags":
			once(s, &seen, 6)
			d.Tags = scanProperties(s)
		case "desired":
			once(s, &seen, 7)
			d.Desired = scanProperties(s)
		case "reported":
			once(s, &seen, 8)
			d.Reported = scanProperties(s)
		case "modules":
			once(s, &seen, 9)
			d.Modules = []Module{}
			array(s, func() { d.Modules = append(d.Modules, scanModule(s)) })
		default:
			s.Fail()
		}
	})
	return d
}

func scanModule(s *jsonscan.Scanner) Module {
	var m Module
	var seen uint32
	s.Object(func(k []byte) {
		switch string(k) {
		case "id":
			once(s, &seen, 0)
			m.ID = s.String()
		case "auth":
			once(s, &seen, 1)
			m.Auth = s.String()
		case "keys":
			once(s, &seen, 2)
			m.Keys = scanKeys(s)
		case "thumbprints":
			once(s, &seen, 3)
			t := Thumbprints(*scanKeys(s))
			m.Thumbprints = &t
		case "tags":
			once(s, &seen, 4)
			m.Tags = scanProperties(s)
		case "desired":
			once(s, &seen, 5)
			m.Desired = scanProperties(s)
		case "reported":
			once(s, &seen, 6)
			m.Reported = scanProperties(s)
		default:
			s.Fail()
		}
	})
	return m
}

// scanKeys reads {"primary": ..., "secondary": ...}, as Keys or Thumbprints.
func scanKeys(s *jsonscan.Scanner) *Keys {
	var k Keys
	var seen uint32
	s.Object(func(name []byte) {
		switch string(name) {
		case "primary":
			once(s, &seen, 0)
			k.Primary = s.String()
		case "secondary":
			once(s, &seen, 1)
			k.Secondary = s.String()
		default:
			s.Fail()
		}
	})
	return &k
}

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
