package seed

import (
	"encoding/json"
	"sync/atomic"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonscan"
	"github.com/iothub-emulator/iothub-emulator/internal/parallel"
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
	if s.Failed() || !s.End() || !readSections(d) {
		return nil, false
	}
	return d, true
}

// rawSections are an identity's twin sections as scanDocument passed over
// them, each nil or an object, for readSections to read.
type rawSections struct{ tags, desired, reported []byte }

// readSections reads the twin sections scanDocument passed over, on every
// core: they are most of a document's bytes and most of the work of
// reading it, and the rest is read on one. It reports whether every one
// read as scanProperties reads a section in place.
func readSections(d *Document) bool {
	var failed atomic.Bool
	parallel.For(len(d.Devices), func(i int) {
		dev := &d.Devices[i]
		ok := dev.sections.read(&dev.Tags, &dev.Desired, &dev.Reported)
		for j := range dev.Modules {
			m := &dev.Modules[j]
			ok = m.sections.read(&m.Tags, &m.Desired, &m.Reported) && ok
		}
		if !ok {
			failed.Store(true)
		}
	})
	return !failed.Load()
}

// read reads each section there is into its Properties, and lets go of
// the raw bytes.
func (r *rawSections) read(tags, desired, reported *Properties) bool {
	ok := true
	for _, sec := range [...]struct {
		raw []byte
		dst *Properties
	}{{r.tags, tags}, {r.desired, desired}, {r.reported, reported}} {
		if sec.raw == nil {
			continue
		}
		s := jsonscan.New(sec.raw)
		p := scanProperties(s)
		if s.Failed() || !s.End() {
			ok = false
			continue
		}
		*sec.dst = p
	}
	*r = rawSections{}
	return ok
}

// rawObject passes over an object, for readSections to read.
func rawObject(s *jsonscan.Scanner) []byte {
	if s.Peek() != '{' {
		s.Fail()
		return nil
	}
	return s.Skip()
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
			scanShared(s, string(k), &d.ID, &d.Auth, &d.Keys, &d.Thumbprints, &d.sections)
		}
	})
	return d
}

func scanModule(s *jsonscan.Scanner) Module {
	var m Module
	var seen jsonscan.Seen
	s.Object(func(k []byte) {
		if s.Member(moduleMembers, &seen, k) {
			scanShared(s, string(k), &m.ID, &m.Auth, &m.Keys, &m.Thumbprints, &m.sections)
		}
	})
	return m
}

// scanShared reads a member devices and modules have alike.
func scanShared(s *jsonscan.Scanner, name string, id, auth *string, keys **Keys, thumbprints **Thumbprints, sections *rawSections) {
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
		sections.tags = rawObject(s)
	case "desired":
		sections.desired = rawObject(s)
	case "reported":
		sections.reported = rawObject(s)
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
