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
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
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
	// Store persists every change; nil keeps everything in memory only.
	Store    *store.Store
	Policies registry.Policies
	Logger   *slog.Logger
	Now      func() time.Time
}

// Hub is the emulated IoT Hub.
type Hub struct {
	hostNames []string
	store     *store.Store
	policies  registry.Policies
	log       *slog.Logger
	now       func() time.Time

	locks *keyLock
	index *query.Index

	mu      sync.RWMutex
	devices map[string]*entry

	notifier atomic.Pointer[Notifier]
	etagSeq  atomic.Int64 // source of identity etags, unique across the hub
}

// entry is one device: its identity, its twin and the service view of the
// twin that queries and GET /twins read. An entry is immutable once
// published; writers build a new one.
type entry struct {
	record deviceRecord
	twin   *twin.Twin
	view   map[string]any
}

// deviceRecord is what the devices bucket stores for one device.
type deviceRecord struct {
	Device  registry.Device `json:"device"`
	ETagSeq int64           `json:"etagSeq"`
	ModelID string          `json:"modelId"`
}

// Open loads the hub from its store (if any) and returns it ready to serve.
func Open(opts Options) (*Hub, error) {
	h := &Hub{
		hostNames: opts.HostNames,
		store:     opts.Store,
		policies:  opts.Policies,
		log:       opts.Logger,
		now:       opts.Now,
		locks:     newKeyLock(),
		index:     query.NewIndex(),
		devices:   make(map[string]*entry),
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
	if h.store == nil {
		return nil
	}
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
		// Nothing is connected to a hub that has just started.
		if rec.Device.ConnectionState == registry.Connected {
			rec.Device.ConnectionState = registry.Disconnected
		}
		t := twins[key]
		if t == nil {
			return fmt.Errorf("device %q has no twin", key)
		}
		maxSeq = max(maxSeq, rec.ETagSeq)
		h.publish(key, &entry{record: rec, twin: t})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	h.etagSeq.Store(maxSeq)
	h.log.Info("hub loaded", "devices", len(h.devices))
	return nil
}

// publish makes e the current state of device id (nil deletes it) in the
// map and the query index. The caller holds the device's key lock.
func (h *Hub) publish(id string, e *entry) {
	if e == nil {
		h.mu.Lock()
		delete(h.devices, id)
		h.mu.Unlock()
		h.index.Delete(query.Devices, id)
		return
	}
	e.view = twinView(e)
	h.mu.Lock()
	h.devices[id] = e
	h.mu.Unlock()
	h.index.Put(query.Devices, id, e.view)
}

func (h *Hub) get(id string) *entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.devices[id]
}

// persist writes a device's records; with no store it is a no-op. A nil
// entry deletes them.
func (h *Hub) persist(ctx context.Context, id string, e *entry) error {
	if h.store == nil {
		return nil
	}
	if e == nil {
		return h.storeErr(h.store.Apply(ctx, store.Op{Bucket: store.Devices, Key: id}, store.Op{Bucket: store.Twins, Key: id}))
	}
	rec, err := json.Marshal(e.record)
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode device %s", id)
	}
	tw, err := json.Marshal(e.twin)
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode twin of %s", id)
	}
	return h.storeErr(h.store.Apply(ctx,
		store.Op{Bucket: store.Devices, Key: id, Value: rec},
		store.Op{Bucket: store.Twins, Key: id, Value: tw}))
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

// twinView renders the service view of a device twin, as GET /twins returns
// it and as queries see it (JSON-decoded types: numbers are float64).
func twinView(e *entry) map[string]any {
	d := e.record.Device
	var reason any
	if d.StatusReason != nil {
		reason = *d.StatusReason
	}
	return map[string]any{
		"deviceId":                  d.DeviceID,
		"etag":                      e.twin.ETag(),
		"deviceEtag":                d.ETag,
		"status":                    d.Status,
		"statusReason":              reason,
		"statusUpdateTime":          d.StatusUpdatedTime,
		"connectionState":           d.ConnectionState,
		"lastActivityTime":          d.LastActivityTime,
		"cloudToDeviceMessageCount": float64(d.CloudToDeviceMessageCount),
		"authenticationType":        d.Authentication.Type,
		"x509Thumbprint": map[string]any{
			"primaryThumbprint":   strOrNil(d.Authentication.X509Thumbprint.PrimaryThumbprint),
			"secondaryThumbprint": strOrNil(d.Authentication.X509Thumbprint.SecondaryThumbprint),
		},
		"modelId":      e.record.ModelID,
		"version":      float64(e.twin.Version()),
		"capabilities": map[string]any{"iotEdge": d.Capabilities.IotEdge},
		"tags":         e.twin.Tags(),
		"properties":   e.twin.Properties(),
	}
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// sortedIDs returns the device ids in order.
func (h *Hub) sortedIDs() []string {
	h.mu.RLock()
	ids := make([]string, 0, len(h.devices))
	for id := range h.devices {
		ids = append(ids, id)
	}
	h.mu.RUnlock()
	sort.Strings(ids)
	return ids
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
