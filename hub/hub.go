// Package hub is the emulated IoT Hub's domain service: it owns the identity
// registry and the twins, applies every change through one path whether it
// came over REST or MQTT, persists it before acknowledging, and keeps the
// query index in step.
//
// The protocol heads (api, mqttbroker) call it; it knows nothing of HTTP or
// MQTT.
package hub

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/jsonenc"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/store"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Notifier receives the events the device protocol delivers.
type Notifier interface {
	// DesiredChanged is called, in version order per identity, after a
	// desired-properties change has committed.
	DesiredChanged(deviceID, moduleID string, version int64, body []byte)
	// Disconnect closes an identity's connection (disabled, new keys).
	Disconnect(deviceID, moduleID string)
	// Forget closes a deleted identity's connection and drops any session
	// state kept for it.
	Forget(deviceID, moduleID string)
}

// Devices is how the hub reaches device connections, whichever protocol
// carries them: notifications, direct methods and cloud-to-device
// deliveries.
type Devices interface {
	Notifier
	MethodInvoker
	c2d.Transport
}

// Options configure a Hub.
type Options struct {
	// HostNames are the host names clients may use in SAS tokens; the first
	// is the canonical one printed in connection strings.
	HostNames []string
	// Store persists every change (store.OpenMemory keeps nothing on
	// disk). It is required.
	Store store.Store
	// Telemetry is the device-to-cloud message log. It is required.
	Telemetry *d2c.Log
	// Devices reaches device connections. It is required.
	Devices Devices
	// C2D configures the hub's cloud-to-device queues. The hub fills in
	// the store, the transport (Devices) and its own hooks.
	C2D c2d.Options
	// Metrics receives the hub's counters; nil keeps them private.
	Metrics  *metrics.Registry
	Policies registry.Policies
	// TrustedCAs are the CAs whose certificates certificateAuthority
	// devices may chain to; nil trusts none.
	TrustedCAs *x509.CertPool
	Logger     *slog.Logger
	Now        func() time.Time
}

// Hub is the emulated IoT Hub.
type Hub struct {
	hostNames []string
	store     store.Store
	telemetry *d2c.Log
	policies  registry.Policies
	trusted   *x509.CertPool
	cas       caTrust // CAs trusted at runtime, see trust.go
	log       *slog.Logger
	now       func() time.Time

	locks *keyLock
	index *query.Index
	stats hubMetrics

	mu      sync.RWMutex
	entries map[string]*entry // by identityKey
	// modules indexes entries' module keys by device, so that a device's
	// modules are found without a scan of the registry.
	modules map[string]map[string]bool
	// configured counts the entries showing a configurations property.
	configured int
	// activity holds the identities whose stored record is behind in
	// lastActivityTime only (telemetry and reported properties move it in
	// memory); Close stores them.
	activity map[string]bool

	devices Devices
	c2d     *c2d.Queues
	etagSeq atomic.Int64 // source of identity etags, unique across the hub

	encodeBufs sync.Pool // *[]byte: scratch space for encode
}

// entry is one identity (a device or a module): its registry record and its
// twin. The service view of the twin (GET /twins, SELECT *) is rendered from
// them when asked for; queries read the entry itself, through Lookup, so
// that a fleet is held once, in the twins' compact form. An entry is
// immutable once published; writers build a new one.
type entry struct {
	identity
	twin *twin.Twin
}

// with returns a copy of e whose identity can be changed without touching
// e; the twin is shared until the caller replaces it.
func (e *entry) with() *entry { return &entry{identity: e.identity, twin: e.twin} }

// identityKey is how the hub, the store and the query index name an
// identity: "deviceId" or "deviceId/moduleId" (ids never contain '/').
func identityKey(deviceID, moduleID string) string {
	if moduleID == "" {
		return deviceID
	}
	return deviceID + "/" + moduleID
}

// Open loads the hub from its store and returns it ready to serve.
func Open(opts Options) (*Hub, error) {
	var missing []error
	if opts.Store == nil {
		missing = append(missing, errors.New("hub: Options.Store is required (store.OpenMemory keeps nothing on disk)"))
	}
	if opts.Telemetry == nil {
		missing = append(missing, errors.New("hub: Options.Telemetry is required"))
	}
	if opts.Devices == nil {
		missing = append(missing, errors.New("hub: Options.Devices is required"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	h := &Hub{
		hostNames: opts.HostNames,
		store:     opts.Store,
		telemetry: opts.Telemetry,
		devices:   opts.Devices,
		policies:  opts.Policies,
		trusted:   opts.TrustedCAs,
		log:       opts.Logger,
		now:       opts.Now,
		locks:     newKeyLock(),
		index:     query.NewIndex(),
		entries:   make(map[string]*entry),
		modules:   make(map[string]map[string]bool),
		activity:  make(map[string]bool),
	}
	if len(h.hostNames) == 0 {
		h.hostNames = []string{"localhost"}
	}
	if h.policies == nil {
		h.policies = registry.WellKnownPolicies()
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.now == nil {
		h.now = time.Now
	}
	reg := opts.Metrics
	if reg == nil {
		reg = metrics.New()
	}
	h.stats = newHubMetrics(reg)
	if err := h.load(); err != nil {
		return nil, err
	}
	if err := h.openC2D(opts.C2D); err != nil {
		return nil, err
	}
	return h, nil
}

// Close stops the hub's background work (the cloud-to-device scheduler).
// The store is the caller's to close, after.
func (h *Hub) Close() error {
	return errors.Join(h.c2d.Close(), h.storeActivity())
}

// storeActivity writes the records whose stored lastActivityTime is
// behind, in one transaction: a hub that stops cleanly keeps them.
func (h *Hub) storeActivity() error {
	h.mu.Lock()
	var ops []store.Op
	for key := range h.activity {
		if e := h.entries[key]; e != nil {
			bucket, rec, err := e.record()
			if err != nil {
				h.mu.Unlock()
				return fmt.Errorf("hub: encode identity %s: %w", key, err)
			}
			ops = append(ops, store.Op{Bucket: bucket, Key: key, Value: rec})
		}
	}
	clear(h.activity)
	h.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	if err := h.store.Apply(context.Background(), ops...); err != nil {
		return fmt.Errorf("hub: store last activity: %w", err)
	}
	return nil
}

// activityAhead notes that key's stored record is behind in lastActivityTime.
func (h *Hub) activityAhead(key string) {
	h.mu.Lock()
	h.activity[key] = true
	h.mu.Unlock()
}

// HostName is the canonical host name of the hub.
func (h *Hub) HostName() string { return h.hostNames[0] }

// Policies returns the hub's shared access policies.
func (h *Hub) Policies() registry.Policies { return h.policies }

func (h *Hub) load() error {
	// Decoding is most of a start's work: it runs on every core. The
	// identities are read first and the twins after, so that indexing
	// each identity with its twin, which runs on one core, overlaps with
	// decoding the twins, the larger half.
	ids := make(map[string]*entry)
	var maxSeq int64
	for _, k := range []kind{deviceKind, moduleKind} {
		err := loadBucket(h.store, k.bucket(), func(key string, value []byte) (*entry, error) {
			id, err := decodeIdentity(k, value)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", k, key, err)
			}
			// Nothing is connected to a hub that has just started.
			id.connected = false
			return &entry{identity: id}, nil
		}, func(key string, e *entry) error {
			maxSeq = max(maxSeq, e.etagSeq)
			ids[key] = e
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s: %w", k.bucket(), err)
		}
	}
	loaders := sync.Pool{New: func() any { return new(twin.Loader) }}
	err := loadBucket(h.store, store.Twins, func(key string, value []byte) (*twin.Twin, error) {
		l := loaders.Get().(*twin.Loader)
		defer loaders.Put(l)
		t, err := l.Load(value)
		if err != nil {
			return nil, fmt.Errorf("twin %q: %w", key, err)
		}
		return t, nil
	}, func(key string, t *twin.Twin) error {
		// A twin whose identity is gone is left alone, as it always was.
		if e := ids[key]; e != nil {
			e.twin = t
			h.publish(key, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load twins: %w", err)
	}
	for key, e := range ids {
		if e.twin == nil {
			return fmt.Errorf("load %s: %s %q has no twin", e.kind.bucket(), e.kind, key)
		}
	}
	h.etagSeq.Store(maxSeq)
	h.log.Info("hub loaded", "identities", len(h.entries))
	return nil
}

// publish makes e the current state of the identity key in the map and the
// query index; a nil e deletes it. The caller holds the device's key lock.
func (h *Hub) publish(key string, e *entry) {
	if e == nil {
		h.mu.Lock()
		h.unindexLocked(key, h.entries[key])
		delete(h.entries, key)
		h.mu.Unlock()
		h.index.Delete(collectionOf(key), key)
		return
	}
	h.mu.Lock()
	h.unindexLocked(key, h.entries[key])
	h.entries[key] = e
	if len(e.configurations) > 0 {
		h.configured++
	}
	if dev, _, isModule := strings.Cut(key, "/"); isModule {
		if h.modules[dev] == nil {
			h.modules[dev] = map[string]bool{}
		}
		h.modules[dev][key] = true
	}
	h.mu.Unlock()
	h.index.Put(collectionOf(key), key, e)
}

// collectionOf is the query collection an identity key belongs to.
func collectionOf(key string) query.Collection {
	if strings.Contains(key, "/") {
		return query.Modules
	}
	return query.Devices
}

// unindexLocked drops what the side indexes hold of the entry old under
// key (nil: nothing). The caller holds h.mu.
func (h *Hub) unindexLocked(key string, old *entry) {
	if old == nil {
		return
	}
	if len(old.configurations) > 0 {
		h.configured--
	}
	if dev, _, isModule := strings.Cut(key, "/"); isModule {
		delete(h.modules[dev], key)
		if len(h.modules[dev]) == 0 {
			delete(h.modules, dev)
		}
	}
}

func (h *Hub) get(key string) *entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.entries[key]
}

// ops returns the store operations that write e under key (or delete it).
// The twin is written only when it is not the stored one (twinChanged):
// connection-state and identity updates share the twin and need not
// re-encode it. The record and the twin are encoded into scratch space
// and copied out at their exact size: growing a buffer to each (an import
// writes about 1.9 KB a device) allocated twice what they take.
func (h *Hub) ops(key string, e *entry, twinChanged bool) []store.Op {
	if e == nil {
		bucket := store.Devices
		if strings.Contains(key, "/") {
			bucket = store.Modules
		}
		return []store.Op{{Bucket: bucket, Key: key}, {Bucket: store.Twins, Key: key}}
	}
	all := make([]store.Op, 1, 2)
	all[0] = store.Op{Bucket: e.kind.bucket(), Key: key, Value: h.encode(e.appendRecord)}
	if twinChanged {
		all = append(all, store.Op{Bucket: store.Twins, Key: key, Value: h.encode(e.twin.AppendStored)})
	}
	return all
}

// encode returns what appendTo appends to an empty slice, written into
// scratch space the hub keeps and copied out at its exact size (see ops).
func (h *Hub) encode(appendTo func([]byte) []byte) []byte {
	scratch, _ := h.encodeBufs.Get().(*[]byte)
	if scratch == nil {
		scratch = new([]byte)
	}
	*scratch = appendTo((*scratch)[:0])
	out := bytes.Clone(*scratch)
	h.encodeBufs.Put(scratch)
	return out
}

// persist writes the given identities atomically (nil entries are deleted)
// and returns once durable.
func (h *Hub) persist(ctx context.Context, changes map[string]*entry) error {
	var all []store.Op
	for key, e := range changes {
		cur := h.get(key)
		all = append(all, h.ops(key, e, e == nil || cur == nil || cur.twin != e.twin)...)
	}
	if err := h.storeErr(h.store.Apply(ctx, all...)); err != nil {
		return err
	}
	h.mu.Lock()
	for key := range changes {
		delete(h.activity, key) // its record is written whole
	}
	h.mu.Unlock()
	return nil
}

// commitTwin persists only the twin of e, whose identity record on disk
// differs from e's at most in lastActivityTime (which, as for telemetry,
// the next write of the record stores), and publishes e.
func (h *Hub) commitTwin(ctx context.Context, key string, e *entry) error {
	tw := h.encode(e.twin.AppendStored)
	if err := h.storeErr(h.store.Apply(ctx, store.Op{Bucket: store.Twins, Key: key, Value: tw})); err != nil {
		return err
	}
	h.publish(key, e)
	h.activityAhead(key)
	return nil
}

// commit persists one identity and publishes it.
func (h *Hub) commit(ctx context.Context, key string, e *entry) error {
	if err := h.persist(ctx, map[string]*entry{key: e}); err != nil {
		return err
	}
	h.publish(key, e)
	return nil
}

func (h *Hub) storeErr(err error) error {
	if err == nil {
		return nil
	}
	h.log.Error("store write failed", "err", err)
	return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not persist the change; nothing was written.")
}

// viewFields are the members of a twin's service view, as GET /twins
// returns it and as queries see it.
var viewFields = []string{
	"deviceId", "moduleId", "etag", "deviceEtag", "status", "statusReason",
	"statusUpdateTime", "connectionState", "lastActivityTime",
	"cloudToDeviceMessageCount", "authenticationType", "x509Thumbprint",
	"modelId", "version", "capabilities", "configurations", "tags", "properties",
}

// field is one member of the service view (JSON-decoded types: numbers are
// float64), and whether the entry's kind has it. Tags are shared with the
// twin and must not be modified; everything else is fresh.
func (e *entry) field(name string) (any, bool) {
	switch name {
	case "deviceId":
		return e.deviceID, true
	case "moduleId":
		return e.moduleID, e.kind == moduleKind
	case "etag":
		return e.twin.ETag(), true
	case "deviceEtag":
		return e.etag, true
	case "status":
		return e.status, true
	case "statusReason":
		if e.kind == moduleKind {
			return nil, false
		}
		if e.statusReason == nil {
			return nil, true
		}
		return *e.statusReason, true
	case "statusUpdateTime":
		return wireTime(e.statusUpdated), true
	case "connectionState":
		return e.connectionState(), true
	case "lastActivityTime":
		return wireTime(e.lastActivity), true
	case "cloudToDeviceMessageCount":
		return float64(e.c2dCount), true
	case "authenticationType":
		return e.auth.Type, true
	case "x509Thumbprint":
		return map[string]any{
			"primaryThumbprint":   strOrNil(e.auth.X509Thumbprint.PrimaryThumbprint),
			"secondaryThumbprint": strOrNil(e.auth.X509Thumbprint.SecondaryThumbprint),
		}, true
	case "modelId":
		return e.modelID, true
	case "version":
		return float64(e.twin.Version()), true
	case "capabilities":
		if e.kind == moduleKind {
			return nil, false
		}
		return map[string]any{"iotEdge": e.capabilities.IotEdge}, true
	case "configurations":
		if len(e.configurations) == 0 {
			return nil, false
		}
		cfgs := make(map[string]any, len(e.configurations))
		for id, status := range e.configurations {
			cfgs[id] = map[string]any{"status": status}
		}
		return cfgs, true
	case "tags":
		return e.twin.SharedTags(), true
	case "properties":
		return e.twin.Properties(), true
	}
	return nil, false
}

// twinView renders the service view of a twin. Its tags are shared with
// the twin: callers must not modify the view.
func twinView(e *entry) map[string]any {
	v := make(map[string]any, len(viewFields))
	for _, name := range viewFields {
		if x, ok := e.field(name); ok {
			v[name] = x
		}
	}
	return v
}

// sortedViewFields are viewFields in encoding/json's order.
var sortedViewFields = func() []string {
	f := slices.Clone(viewFields)
	slices.Sort(f)
	return f
}()

// appendView appends the service view as JSON, byte for byte what
// json.Marshal(twinView(e)) writes, without rendering the maps.
func appendView(b []byte, e *entry) []byte {
	b = append(b, '{')
	first := true
	for _, name := range sortedViewFields {
		var x any
		var ok bool
		if name != "tags" && name != "properties" {
			if x, ok = e.field(name); !ok {
				continue
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, name)
		b = append(b, ':')
		switch name {
		case "tags":
			b = e.twin.AppendTags(b)
		case "properties":
			b = e.twin.AppendProperties(b)
		default:
			b = jsonenc.AppendValue(b, x)
		}
	}
	return append(b, '}')
}

// SameTags tells the query index that a write left the tags alone.
func (e *entry) SameTags(other query.Doc) bool {
	o, ok := other.(*entry)
	return ok && e.twin.SameTags(o.twin)
}

// Lookup reads the service view at path, for queries, without rendering
// it: tags and properties are read in the twin's own form. Only paths into
// a section's $metadata, or naming a whole section, render it.
func (e *entry) Lookup(path []string) (any, bool) {
	switch path[0] {
	case "tags":
		return e.twin.TagValue(path[1:])
	case "properties":
		if len(path) >= 3 && (path[1] == "desired" || path[1] == "reported") {
			desired := path[1] == "desired"
			if !strings.HasPrefix(path[2], "$") {
				return e.twin.PropertyValue(desired, path[2:])
			}
			if path[2] == "$version" && len(path) == 3 {
				if desired {
					return float64(e.twin.DesiredVersion()), true
				}
				return float64(e.twin.ReportedVersion()), true
			}
		}
	}
	x, ok := e.field(path[0])
	for _, seg := range path[1:] {
		m, isObject := x.(map[string]any)
		if !ok || !isObject {
			return nil, false
		}
		x, ok = m[seg]
	}
	return x, ok
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// sortedKeys returns the identity keys that pass keep, in order.
func (h *Hub) sortedKeys(keep func(key string, e *entry) bool) []string {
	h.mu.RLock()
	var keys []string
	for k, e := range h.entries {
		if keep(k, e) {
			keys = append(keys, k)
		}
	}
	h.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// hostAccepted reports whether host (possibly with a port) names this hub.
func (h *Hub) hostAccepted(host string) bool {
	if hostOnly, _, err := net.SplitHostPort(host); err == nil {
		host = hostOnly
	}
	for _, n := range h.hostNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}
