package dps

import (
	"encoding/json"
	"fmt"
)

// CheckEnrollment checks an enrollment body (a group's when group is
// true) for the id as PutEnrollment does, without storing anything, and
// returns it completed as it would be stored: keys generated where absent,
// certificates described. Seed files are checked with it before anything
// is applied.
func CheckEnrollment(body []byte, id string, group bool) (*Enrollment, error) {
	return parseEnrollment(body, id, group)
}

// StoredEnrollment returns an enrollment (a group when group is true) as
// stored: keys and certificates in full, without its registration state,
// for export. The copy is the caller's.
func (s *Service) StoredEnrollment(id string, group bool) (*Enrollment, bool, error) {
	k := individual
	if group {
		k = groupKind
	}
	s.mu.RLock()
	e := s.mapOf(k)[key(id)]
	s.mu.RUnlock()
	if e == nil {
		return nil, false, nil
	}
	c, err := deepCopy(e)
	return c, err == nil, err
}

// StoredEnrollments returns every individual enrollment (groups when group
// is true) as StoredEnrollment does, in id order.
func (s *Service) StoredEnrollments(group bool) ([]*Enrollment, error) {
	k := individual
	if group {
		k = groupKind
	}
	s.mu.RLock()
	m := s.mapOf(k)
	list := make([]*Enrollment, 0, len(m))
	for _, id := range sortedKeys(m) {
		list = append(list, m[id])
	}
	s.mu.RUnlock()
	out := make([]*Enrollment, 0, len(list))
	for _, e := range list {
		c, err := deepCopy(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// deepCopy copies a stored enrollment, which is never modified in place,
// so that the caller cannot change the service's.
func deepCopy(e *Enrollment) (*Enrollment, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("dps: encode enrollment: %w", err)
	}
	var c Enrollment
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("dps: decode enrollment: %w", err)
	}
	c.RegistrationState = nil
	return &c, nil
}
