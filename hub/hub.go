// Package hub is the emulated IoT Hub's domain service: it owns the identity
// registry and the twins, applies every change through one path whether it
// came over REST or MQTT, persists it before acknowledging, and keeps the
// query index in step.
//
// The protocol heads (api, mqttbroker) call it; it knows nothing of HTTP or
// MQTT.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
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
	// Disconnect closes an identity's connection (deleted, disabled, new keys).
	Disconnect(deviceID, moduleID string)
}

// Options configure a Hub.
type Options struct {
	// HostNames are the host names clients may use in SAS tokens; the first
	// is the canonical one printed in connection strings.
	HostNames []string
	// Store persists every change (store.OpenMemory keeps nothing on
	// disk). It is required.
	Store store.Store
	// Telemetry is the device-to-cloud message log; nil drops telemetry.
	Telemetry *d2c.Log
	// Metrics receives the hub's counters; nil keeps them private.
	Metrics  *metrics.Registry
	Policies registry.Policies
	Logger   *slog.Logger
	Now      func() time.Time
}

// Hub is the emulated IoT Hub.
type Hub struct {
	hostNames []string
	store     store.Store
	telemetry *d2c.Log
	policies  registry.Policies
	log       *slog.Logger
	now       func() time.Time

	locks *keyLock
	index *query.Index
	stats hubMetrics

	mu      sync.RWMutex
	entries map[string]*entry // by identityKey

	notifier atomic.Pointer[Notifier]
	invoker  atomic.Pointer[MethodInvoker]
	c2d      atomic.Pointer[c2d.Queues]
	etagSeq  atomic.Int64 // source of identity etags, unique across the hub
}

// entry is one identity (a device or a module): its registry record, its
// twin and the service view of the twin that queries and GET /twins read.
// An entry is immutable once published; writers build a new one.
type entry struct {
	device *deviceRecord // set for a device
	module *moduleRecord // set for a module
	twin   *twin.Twin
	view   map[string]any
}

// deviceRecord is what the devices bucket stores for one device.
type deviceRecord struct {
	Device  registry.Device `json:"device"`
	ETagSeq int64           `json:"etagSeq"`
	ModelID string          `json:"modelId"`
}

// moduleRecord is what the modules bucket stores for one module.
type moduleRecord struct {
	Module  registry.Module `json:"module"`
	ETagSeq int64           `json:"etagSeq"`
	ModelID string          `json:"modelId"`
}

// with returns a shallow copy of e whose records can be changed without
// touching e; the twin is shared until the caller replaces it.
func (e *entry) with() *entry {
	n := &entry{twin: e.twin}
	if e.device != nil {
		d := *e.device
		n.device = &d
	}
	if e.module != nil {
		m := *e.module
		n.module = &m
	}
	return n
}

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
	if opts.Store == nil {
		return nil, errors.New("hub: Options.Store is required (store.OpenMemory keeps nothing on disk)")
	}
	h := &Hub{
		hostNames: opts.HostNames,
		store:     opts.Store,
		telemetry: opts.Telemetry,
		policies:  opts.Policies,
		log:       opts.Logger,
		now:       opts.Now,
		locks:     newKeyLock(),
		index:     query.NewIndex(),
		entries:   make(map[string]*entry),
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
	return h, nil
}

// HostName is the canonical host name of the hub.
func (h *Hub) HostName() string { return h.hostNames[0] }

// Policies returns the hub's shared access policies.
func (h *Hub) Policies() registry.Policies { return h.policies }

// SetNotifier connects the device protocol; until then events are dropped.
func (h *Hub) SetNotifier(n Notifier) { h.notifier.Store(&n) }

func (h *Hub) notify() Notifier {
	if p := h.notifier.Load(); p != nil {
		return *p
	}
	return nil
}

func (h *Hub) load() error {
	twins := make(map[string]*twin.Twin)
	err := h.store.ForEach(store.Twins, func(key string, value []byte) error {
		t := new(twin.Twin)
		if err := json.Unmarshal(value, t); err != nil {
			return fmt.Errorf("twin %q: %w", key, err)
		}
		twins[key] = t
		return nil
	})
	if err != nil {
		return fmt.Errorf("load twins: %w", err)
	}
	var maxSeq int64
	err = h.store.ForEach(store.Devices, func(key string, value []byte) error {
		var rec deviceRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("device %q: %w", key, err)
		}
		if twins[key] == nil {
			return fmt.Errorf("device %q has no twin", key)
		}
		// Nothing is connected to a hub that has just started.
		rec.Device.ConnectionState = registry.Disconnected
		maxSeq = max(maxSeq, rec.ETagSeq)
		h.publish(key, &entry{device: &rec, twin: twins[key]})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	err = h.store.ForEach(store.Modules, func(key string, value []byte) error {
		var rec moduleRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("module %q: %w", key, err)
		}
		if twins[key] == nil {
			return fmt.Errorf("module %q has no twin", key)
		}
		rec.Module.ConnectionState = registry.Disconnected
		maxSeq = max(maxSeq, rec.ETagSeq)
		h.publish(key, &entry{module: &rec, twin: twins[key]})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load modules: %w", err)
	}
	h.etagSeq.Store(maxSeq)
	h.log.Info("hub loaded", "identities", len(h.entries))
	return nil
}

// publish makes e the current state of the identity key in the map and the
// query index; a nil e deletes it. The caller holds the device's key lock.
func (h *Hub) publish(key string, e *entry) {
	coll := query.Devices
	if strings.Contains(key, "/") {
		coll = query.Modules
	}
	if e == nil {
		h.mu.Lock()
		delete(h.entries, key)
		h.mu.Unlock()
		h.index.Delete(coll, key)
		return
	}
	e.view = twinView(e)
	h.mu.Lock()
	h.entries[key] = e
	h.mu.Unlock()
	h.index.Put(coll, key, e.view)
}

func (h *Hub) get(key string) *entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.entries[key]
}

// ops returns the store operations that write e under key (or delete it).
// The twin is written only when it is not the stored one (twinChanged):
// connection-state and identity updates share the twin and need not
// re-encode it.
func ops(key string, e *entry, twinChanged bool) ([]store.Op, error) {
	if e == nil {
		bucket := store.Devices
		if strings.Contains(key, "/") {
			bucket = store.Modules
		}
		return []store.Op{{Bucket: bucket, Key: key}, {Bucket: store.Twins, Key: key}}, nil
	}
	var rec []byte
	var err error
	bucket := store.Devices
	if e.module != nil {
		bucket = store.Modules
		rec, err = json.Marshal(e.module)
	} else {
		rec, err = json.Marshal(e.device)
	}
	if err != nil {
		return nil, errcode.Wrap(errcode.ServerError, err, "could not encode identity %s", key)
	}
	if !twinChanged {
		return []store.Op{{Bucket: bucket, Key: key, Value: rec}}, nil
	}
	tw, err := json.Marshal(e.twin)
	if err != nil {
		return nil, errcode.Wrap(errcode.ServerError, err, "could not encode twin of %s", key)
	}
	return []store.Op{{Bucket: bucket, Key: key, Value: rec}, {Bucket: store.Twins, Key: key, Value: tw}}, nil
}

// persist writes the given identities atomically (nil entries are deleted)
// and returns once durable.
func (h *Hub) persist(ctx context.Context, changes map[string]*entry) error {
	var all []store.Op
	for key, e := range changes {
		cur := h.get(key)
		o, err := ops(key, e, e == nil || cur == nil || cur.twin != e.twin)
		if err != nil {
			return err
		}
		all = append(all, o...)
	}
	return h.storeErr(h.store.Apply(ctx, all...))
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

func (h *Hub) timestamp() string { return h.now().UTC().Format(registry.TimeFormat) }

func deviceNotFound(id string) error {
	return errcode.New(errcode.DeviceNotFound, "Device %s not registered", id)
}

// twinView renders the service view of a twin, as GET /twins returns it
// and as queries see it (JSON-decoded types: numbers are float64).
func twinView(e *entry) map[string]any {
	var (
		deviceID, moduleID, deviceEtag, status, statusTime, conn, lastActivity, modelID string
		reason                                                                          any
		c2d                                                                             int
		auth                                                                            registry.Authentication
		edge                                                                            bool
	)
	if d := e.device; d != nil {
		deviceID, deviceEtag, status, statusTime = d.Device.DeviceID, d.Device.ETag, d.Device.Status, d.Device.StatusUpdatedTime
		conn, lastActivity, c2d, auth, modelID = d.Device.ConnectionState, d.Device.LastActivityTime, d.Device.CloudToDeviceMessageCount, d.Device.Authentication, d.ModelID
		edge = d.Device.Capabilities.IotEdge
		if d.Device.StatusReason != nil {
			reason = *d.Device.StatusReason
		}
	} else {
		m := e.module
		deviceID, moduleID, deviceEtag, status, statusTime = m.Module.DeviceID, m.Module.ModuleID, m.Module.ETag, registry.StatusEnabled, registry.NeverTime
		conn, lastActivity, c2d, auth, modelID = m.Module.ConnectionState, m.Module.LastActivityTime, m.Module.CloudToDeviceMessageCount, m.Module.Authentication, m.ModelID
	}
	v := map[string]any{
		"deviceId":                  deviceID,
		"etag":                      e.twin.ETag(),
		"deviceEtag":                deviceEtag,
		"status":                    status,
		"statusUpdateTime":          statusTime,
		"connectionState":           conn,
		"lastActivityTime":          lastActivity,
		"cloudToDeviceMessageCount": float64(c2d),
		"authenticationType":        auth.Type,
		"x509Thumbprint": map[string]any{
			"primaryThumbprint":   strOrNil(auth.X509Thumbprint.PrimaryThumbprint),
			"secondaryThumbprint": strOrNil(auth.X509Thumbprint.SecondaryThumbprint),
		},
		"modelId":    modelID,
		"version":    float64(e.twin.Version()),
		"tags":       e.twin.Tags(),
		"properties": e.twin.Properties(),
	}
	if e.module != nil {
		v["moduleId"] = moduleID
	} else {
		v["statusReason"] = reason
		v["capabilities"] = map[string]any{"iotEdge": edge}
	}
	return v
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
