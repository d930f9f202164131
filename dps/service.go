package dps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// DefaultIDScope is the ID scope of the emulated service: a fixed,
// documented value, so a device's configuration works on every machine.
const DefaultIDScope = "0ne00000000"

// Hub is the one IoT hub the service assigns devices to.
type Hub interface {
	// Provision creates or updates the device, as hub.Hub.Provision.
	Provision(ctx context.Context, p hub.Provisioning) (created bool, err error)
	// HostName is the hub's host name, reported as each device's assigned hub.
	HostName() string
}

// Options configure a Service.
type Options struct {
	Store store.Store // required
	Hub   Hub         // required
	// IDScope is the scope devices register in ("": DefaultIDScope).
	IDScope string
	// Policy signs service API requests ("": WellKnownPolicy).
	Policy Policy
	// HostAccepted reports whether a service token's host names this
	// service; nil accepts any host.
	HostAccepted func(host string) bool
	Logger       *slog.Logger
	Now          func() time.Time
}

// Service is the emulated Device Provisioning Service: enrollments,
// enrollment groups and registration states, and the device registration
// that assigns devices to the hub. It is safe for concurrent use.
type Service struct {
	store        store.Store
	hub          Hub
	scope        string
	policy       Policy
	hostAccepted func(string) bool
	log          *slog.Logger
	now          func() time.Time

	mu          sync.RWMutex
	enrollments map[string]*Enrollment // by lowercased registration id
	groups      map[string]*Enrollment // by lowercased group id
	records     map[string]*record     // by lowercased registration id

	// regLocks serialise the registrations of one registration id (striped:
	// registrations of different devices rarely share one).
	regLocks [64]sync.Mutex
}

// Open loads the service's records from the store.
func Open(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("dps: Options.Store is required")
	}
	if opts.Hub == nil {
		return nil, errors.New("dps: Options.Hub is required")
	}
	s := &Service{
		store: opts.Store, hub: opts.Hub, scope: opts.IDScope, policy: opts.Policy,
		hostAccepted: opts.HostAccepted, log: opts.Logger, now: opts.Now,
		enrollments: map[string]*Enrollment{}, groups: map[string]*Enrollment{}, records: map[string]*record{},
	}
	if s.scope == "" {
		s.scope = DefaultIDScope
	}
	if s.policy.Name == "" {
		s.policy = WellKnownPolicy()
	}
	if s.hostAccepted == nil {
		s.hostAccepted = func(string) bool { return true }
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// IDScope is the scope devices register in.
func (s *Service) IDScope() string { return s.scope }

// Policy is the policy service requests are signed with.
func (s *Service) Policy() Policy { return s.policy }

func (s *Service) load() error {
	for _, b := range []struct {
		bucket string
		into   map[string]*Enrollment
	}{{store.Enrollments, s.enrollments}, {store.EnrollmentGroups, s.groups}} {
		err := s.store.ForEach(b.bucket, func(key string, value []byte) error {
			var e Enrollment
			if err := json.Unmarshal(value, &e); err != nil {
				return fmt.Errorf("dps: enrollment record %q in %s is damaged: %w", key, b.bucket, err)
			}
			b.into[key] = &e
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.store.ForEach(store.Registrations, func(key string, value []byte) error {
		var r record
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("dps: registration record %q is damaged: %w", key, err)
		}
		s.records[key] = &r
		return nil
	})
}

func key(id string) string { return strings.ToLower(id) }

func (s *Service) stamp() string {
	return s.now().UTC().Format("2006-01-02T15:04:05.0000000Z")
}

// newETag is an opaque, quoted etag, as DPS's look.
func newETag() string { return `"` + randomHex(16) + `"` }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// etagMatches reports whether an If-Match header allows a write to a
// resource whose etag is current ("" for none): an absent header and "*"
// always do (the latter only for an existing resource).
func etagMatches(ifMatch, current string) bool {
	ifMatch = strings.TrimSpace(ifMatch)
	if ifMatch == "" {
		return true
	}
	if ifMatch == "*" || ifMatch == `"*"` {
		return current != ""
	}
	norm := func(s string) string { return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`) }
	return current != "" && norm(ifMatch) == norm(current) && norm(ifMatch) != ""
}

func preconditionFailed(ifMatch string) error {
	return errcode.New(errcode.PreconditionFailed, "The etag %s does not match the resource's current etag.", ifMatch)
}

func notFound(what, id string) error {
	return errcode.New(errcode.ProvisioningNotFound, "The %s '%s' does not exist.", what, id)
}

func (s *Service) storeErr(err error) error {
	if err == nil {
		return nil
	}
	s.log.Error("dps: store write failed", "err", err)
	return errcode.Wrap(errcode.ServiceUnavailable, err, "The provisioning service could not persist the change; nothing was written.")
}

// kindOf names the two enrollment kinds in messages and picks their maps.
type kind struct {
	name   string
	bucket string
	group  bool
}

var (
	individual = kind{"enrollment", store.Enrollments, false}
	groupKind  = kind{"enrollment group", store.EnrollmentGroups, true}
)

func (s *Service) mapOf(k kind) map[string]*Enrollment {
	if k.group {
		return s.groups
	}
	return s.enrollments
}

// PutEnrollment creates or replaces an individual enrollment.
func (s *Service) PutEnrollment(ctx context.Context, id string, body []byte, ifMatch string) (*Enrollment, error) {
	return s.put(ctx, individual, id, body, ifMatch)
}

// PutEnrollmentGroup creates or replaces an enrollment group.
func (s *Service) PutEnrollmentGroup(ctx context.Context, id string, body []byte, ifMatch string) (*Enrollment, error) {
	return s.put(ctx, groupKind, id, body, ifMatch)
}

func (s *Service) put(ctx context.Context, k kind, id string, body []byte, ifMatch string) (*Enrollment, error) {
	e, err := parseEnrollment(body, id, k.group)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(ctx, k, e, ifMatch)
}

// putLocked stores a parsed enrollment; the caller holds s.mu.
func (s *Service) putLocked(ctx context.Context, k kind, e *Enrollment, ifMatch string) (*Enrollment, error) {
	m := s.mapOf(k)
	cur := m[key(e.id())]
	curETag := ""
	if cur != nil {
		curETag = cur.ETag
	}
	if !etagMatches(ifMatch, curETag) {
		if cur == nil {
			return nil, notFound(k.name, e.id())
		}
		return nil, preconditionFailed(ifMatch)
	}
	now := s.stamp()
	e.CreatedDateTimeUTC = now
	if cur != nil {
		e.CreatedDateTimeUTC = cur.CreatedDateTimeUTC
	}
	e.LastUpdatedDateTimeUTC = now
	e.ETag = newETag()
	e.IoTHubHostName = s.hub.HostName()
	e.IoTHubs = []string{s.hub.HostName()}
	value, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("dps: encode enrollment: %w", err)
	}
	if err := s.store.Apply(ctx, store.Op{Bucket: k.bucket, Key: key(e.id()), Value: value}); err != nil {
		return nil, s.storeErr(err)
	}
	m[key(e.id())] = e
	s.log.Debug("dps: "+k.name+" written", "id", e.id(), "created", cur == nil)
	return s.publicLocked(k, e), nil
}

// publicLocked is what the service API shows of an enrollment: an
// individual one carries its registration state.
func (s *Service) publicLocked(k kind, e *Enrollment) *Enrollment {
	out := e.public()
	if !k.group {
		if r := s.records[key(e.RegistrationID)]; r != nil && r.Group == "" {
			st := r.State
			out.RegistrationState = &st
		}
	}
	return out
}

// GetEnrollment returns an individual enrollment.
func (s *Service) GetEnrollment(id string) (*Enrollment, error) { return s.get(individual, id) }

// GetEnrollmentGroup returns an enrollment group.
func (s *Service) GetEnrollmentGroup(id string) (*Enrollment, error) { return s.get(groupKind, id) }

func (s *Service) get(k kind, id string) (*Enrollment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.mapOf(k)[key(id)]
	if e == nil {
		return nil, notFound(k.name, id)
	}
	return s.publicLocked(k, e), nil
}

// EnrollmentAttestation returns an individual enrollment's attestation
// mechanism, keys included.
func (s *Service) EnrollmentAttestation(id string) (*Attestation, error) {
	return s.attestation(individual, id)
}

// EnrollmentGroupAttestation returns a group's attestation mechanism.
func (s *Service) EnrollmentGroupAttestation(id string) (*Attestation, error) {
	return s.attestation(groupKind, id)
}

func (s *Service) attestation(k kind, id string) (*Attestation, error) {
	e, err := s.get(k, id)
	if err != nil {
		return nil, err
	}
	return e.Attestation, nil
}

// DeleteEnrollment deletes an individual enrollment and its device's
// registration state. The device stays in the hub, as in DPS.
func (s *Service) DeleteEnrollment(ctx context.Context, id, ifMatch string) error {
	return s.delete(ctx, individual, id, ifMatch)
}

// DeleteEnrollmentGroup deletes an enrollment group and the registration
// states of its devices.
func (s *Service) DeleteEnrollmentGroup(ctx context.Context, id, ifMatch string) error {
	return s.delete(ctx, groupKind, id, ifMatch)
}

func (s *Service) delete(ctx context.Context, k kind, id, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(ctx, k, id, ifMatch)
}

func (s *Service) deleteLocked(ctx context.Context, k kind, id, ifMatch string) error {
	m := s.mapOf(k)
	cur := m[key(id)]
	if cur == nil {
		return notFound(k.name, id)
	}
	if !etagMatches(ifMatch, cur.ETag) {
		return preconditionFailed(ifMatch)
	}
	ops := []store.Op{{Bucket: k.bucket, Key: key(id)}}
	var dropped []string
	for rk, r := range s.records {
		if (k.group && strings.EqualFold(r.Group, id)) || (!k.group && r.Group == "" && rk == key(id)) {
			ops = append(ops, store.Op{Bucket: store.Registrations, Key: rk})
			dropped = append(dropped, rk)
		}
	}
	if err := s.store.Apply(ctx, ops...); err != nil {
		return s.storeErr(err)
	}
	delete(m, key(id))
	for _, rk := range dropped {
		delete(s.records, rk)
	}
	s.log.Debug("dps: "+k.name+" deleted", "id", id)
	return nil
}

// GetRegistration returns a device registration state.
func (s *Service) GetRegistration(id string) (*RegistrationState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.records[key(id)]
	if r == nil {
		return nil, notFound("registration", id)
	}
	st := r.State
	return &st, nil
}

// DeleteRegistration deletes a device registration state, so the device's
// next registration is its first again. The device stays in the hub.
func (s *Service) DeleteRegistration(ctx context.Context, id, ifMatch string) error {
	mu := s.regLock(id)
	mu.Lock()
	defer mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[key(id)]
	if r == nil {
		return notFound("registration", id)
	}
	if !etagMatches(ifMatch, r.State.ETag) {
		return preconditionFailed(ifMatch)
	}
	if err := s.store.Apply(ctx, store.Op{Bucket: store.Registrations, Key: key(id)}); err != nil {
		return s.storeErr(err)
	}
	delete(s.records, key(id))
	return nil
}

func (s *Service) regLock(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key(id)))
	return &s.regLocks[h.Sum32()%uint32(len(s.regLocks))]
}

// Counts reports how many enrollments, groups and registrations exist.
func (s *Service) Counts() (enrollments, groups, registrations int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.enrollments), len(s.groups), len(s.records)
}

// sortedKeys lists a map's keys in order, for stable listings.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
