package hub

import (
	"context"
	"sort"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// maxListDevices is the hub's cap on the legacy GET /devices list.
const maxListDevices = 1000

func etagMismatch(ifMatch string) error {
	return errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match the current etag.", ifMatch)
}

func deviceNotFound(id string) error {
	return errcode.New(errcode.DeviceNotFound, "Device %s not registered", id)
}

func moduleNotFound(deviceID, moduleID string) error {
	return errcode.New(errcode.ModuleNotFound, "Module %s on device %s not found", moduleID, deviceID)
}

// notFound is the error for a missing device (moduleID "") or module.
func notFound(deviceID, moduleID string) error {
	if moduleID == "" {
		return deviceNotFound(deviceID)
	}
	return moduleNotFound(deviceID, moduleID)
}

func alreadyExists(deviceID, moduleID string) error {
	if moduleID == "" {
		return errcode.New(errcode.DeviceAlreadyExists, "A device with ID '%s' is already registered.", deviceID)
	}
	return errcode.New(errcode.ModuleAlreadyExistsOnDevice, "A module with ID '%s' already exists on device '%s'.", moduleID, deviceID)
}

// logAttrs names an identity in a log line.
func logAttrs(deviceID, moduleID string, more ...any) []any {
	attrs := []any{"device", deviceID}
	if moduleID != "" {
		attrs = append(attrs, "module", moduleID)
	}
	return append(attrs, more...)
}

// device returns a device's entry, or nil.
func (h *Hub) device(id string) *entry {
	if e := h.get(id); e != nil && e.kind == deviceKind {
		return e
	}
	return nil
}

// lookup returns the entry of a device (moduleID "") or module, with the
// hub's error for whichever is missing.
func (h *Hub) lookup(deviceID, moduleID string) (*entry, error) {
	if moduleID == "" {
		if e := h.device(deviceID); e != nil {
			return e, nil
		}
		return nil, deviceNotFound(deviceID)
	}
	if e := h.get(identityKey(deviceID, moduleID)); e != nil {
		return e, nil
	}
	if h.get(deviceID) == nil {
		return nil, deviceNotFound(deviceID)
	}
	return nil, moduleNotFound(deviceID, moduleID)
}

func deviceOf(e *entry, err error) (registry.Device, error) {
	if err != nil {
		return registry.Device{}, err
	}
	return e.toDevice(), nil
}

func moduleOf(e *entry, err error) (registry.Module, error) {
	if err != nil {
		return registry.Module{}, err
	}
	return e.toModule(), nil
}

// PutDevice creates (no If-Match) or updates (If-Match, "*" included) a
// device identity from a REST body, as PUT /devices/{id} does.
func (h *Hub) PutDevice(ctx context.Context, id string, body []byte, ifMatch string) (registry.Device, error) {
	return deviceOf(h.put(ctx, id, "", body, ifMatch))
}

// PutModule creates (no If-Match) or updates (If-Match) a module identity,
// as PUT /devices/{id}/modules/{mid} does.
func (h *Hub) PutModule(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string) (registry.Module, error) {
	return moduleOf(h.put(ctx, deviceID, moduleID, body, ifMatch))
}

// HasDevice reports whether the device is registered: a bulk load asks it
// of every device it names, and most are new, so the answer costs no
// error built and thrown away.
func (h *Hub) HasDevice(id string) bool { return h.device(id) != nil }

// GetDevice returns a device identity.
func (h *Hub) GetDevice(_ context.Context, id string) (registry.Device, error) {
	return deviceOf(h.lookup(id, ""))
}

// GetModule returns a module identity.
func (h *Hub) GetModule(_ context.Context, deviceID, moduleID string) (registry.Module, error) {
	return moduleOf(h.lookup(deviceID, moduleID))
}

// DeleteDevice deletes a device with its twin and its modules; If-Match is optional.
func (h *Hub) DeleteDevice(ctx context.Context, id, ifMatch string) error {
	return h.remove(ctx, id, "", ifMatch)
}

// DeleteModule deletes a module and its twin; If-Match is optional.
func (h *Hub) DeleteModule(ctx context.Context, deviceID, moduleID, ifMatch string) error {
	return h.remove(ctx, deviceID, moduleID, ifMatch)
}

// put creates (no If-Match) or updates (If-Match, "*" included) a device
// (moduleID "") or module identity from a REST body. Every write to a device
// or its modules holds the device's lock, so a module can never outlive a
// concurrent delete of its device.
func (h *Hub) put(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string) (*entry, error) {
	in, err := parseInput(deviceID, moduleID, body)
	if err != nil {
		return nil, err
	}
	return h.putParsed(ctx, deviceID, moduleID, in, ifMatch, nil)
}

// putParsed is put once the body is decoded. A non-nil tw is merged into
// the twin in the same write (bulk creates and updates carry tags and
// desired properties), so the identity and its twin change together or
// not at all.
func (h *Hub) putParsed(ctx context.Context, deviceID, moduleID string, in input, ifMatch string, tw *twin.ServiceUpdate) (*entry, error) {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	k := kindOf(moduleID)
	if k == moduleKind && h.device(deviceID) == nil {
		return nil, deviceNotFound(deviceID)
	}
	key := identityKey(deviceID, moduleID)
	cur := h.get(key)
	switch {
	case cur == nil && hasIfMatch(ifMatch):
		return nil, notFound(deviceID, moduleID)
	case cur != nil && !hasIfMatch(ifMatch):
		return nil, alreadyExists(deviceID, moduleID)
	case cur != nil && !etagMatches(ifMatch, cur.etag):
		return nil, etagMismatch(ifMatch)
	case cur == nil && k == moduleKind && len(h.moduleKeys(deviceID)) >= registry.MaxModulesPerDevice:
		return nil, errcode.New(errcode.TooManyModulesOnDevice, "Device '%s' already has %d modules, the most a device may have.", deviceID, registry.MaxModulesPerDevice)
	}

	now := h.stamp()
	var next *entry
	if cur == nil {
		next = &entry{identity: newIdentity(deviceID, moduleID, h.now()), twin: twin.New(h.now())}
	} else {
		next = cur.with()
	}
	next.etagSeq = h.etagSeq.Add(1)
	next.etag = registry.ETag(next.etagSeq)
	next.set(in, now, cur != nil)
	var change twin.DesiredChange
	if tw != nil {
		t, c, err := next.twin.Patched(*tw, h.now())
		if err != nil {
			return nil, err
		}
		next.twin, change = t, c
	}
	// An IoT Edge device gets its system modules in the same write.
	changes, err := h.edgeModules(next)
	if err != nil {
		return nil, err
	}
	if changes == nil {
		changes = map[string]*entry{}
	}
	changes[key] = next
	if err := h.persist(ctx, changes); err != nil {
		return nil, err
	}
	for k, e := range changes {
		h.publish(k, e)
	}
	if change.Changed {
		h.sendDesired(deviceID, moduleID, change)
	}
	if cur != nil && next.mustDisconnect(cur.identity) {
		h.devices.Disconnect(deviceID, moduleID)
	}
	op := "update-"
	if cur == nil {
		op = "create-"
	}
	h.stats.registryOps.Inc(op + k.String())
	h.log.Debug(k.String()+" written", logAttrs(deviceID, moduleID, "created", cur == nil)...)
	return next, nil
}

// remove deletes a device (moduleID "") with its modules, or a module, and
// their twins; If-Match is optional.
func (h *Hub) remove(ctx context.Context, deviceID, moduleID, ifMatch string) error {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return err
	}
	if !etagMatches(ifMatch, cur.etag) {
		return etagMismatch(ifMatch)
	}
	if err := h.drop(ctx, deviceID, moduleID); err != nil {
		return err
	}
	h.stats.registryOps.Inc("delete-" + cur.kind.String())
	h.log.Debug(cur.kind.String()+" deleted", logAttrs(deviceID, moduleID)...)
	return nil
}

// drop deletes an identity and its twin, with a device's modules and
// theirs, in one store transaction; ends their connections; and drops a
// deleted device's cloud-to-device queue. The caller holds the device's lock.
func (h *Hub) drop(ctx context.Context, deviceID, moduleID string) error {
	var modules []string
	if moduleID == "" {
		modules = h.moduleKeys(deviceID)
	}
	changes := map[string]*entry{identityKey(deviceID, moduleID): nil}
	for _, k := range modules {
		changes[k] = nil
	}
	if err := h.persist(ctx, changes); err != nil {
		return err
	}
	for k := range changes {
		h.publish(k, nil)
	}
	for _, k := range modules {
		h.devices.Forget(deviceID, strings.TrimPrefix(k, deviceID+"/"))
	}
	h.devices.Forget(deviceID, moduleID)
	if moduleID == "" {
		h.dropC2D(ctx, deviceID)
	}
	return nil
}

// moduleKeys lists the identity keys of a device's modules.
func (h *Hub) moduleKeys(deviceID string) []string {
	h.mu.RLock()
	keys := make([]string, 0, len(h.modules[deviceID]))
	for k := range h.modules[deviceID] {
		keys = append(keys, k)
	}
	h.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// ListModules returns a device's modules in id order.
func (h *Hub) ListModules(_ context.Context, deviceID string) ([]registry.Module, error) {
	if h.device(deviceID) == nil {
		return nil, deviceNotFound(deviceID)
	}
	out := []registry.Module{}
	for _, k := range h.moduleKeys(deviceID) {
		if e := h.get(k); e != nil {
			out = append(out, e.toModule())
		}
	}
	return out, nil
}

// ListDevices returns up to top devices in id order (the legacy list; the
// hub caps it at 1000).
func (h *Hub) ListDevices(_ context.Context, top int) []registry.Device {
	if top <= 0 || top > maxListDevices {
		top = maxListDevices
	}
	keys := h.DeviceIDs()
	out := make([]registry.Device, 0, min(top, len(keys)))
	for _, k := range keys[:min(top, len(keys))] {
		if e := h.device(k); e != nil {
			out = append(out, e.toDevice())
		}
	}
	return out
}

// DeviceIDs returns every device id in order (unlike ListDevices, uncapped).
func (h *Hub) DeviceIDs() []string {
	return h.sortedKeys(func(_ string, e *entry) bool { return e.kind == deviceKind })
}

// RegistryStatistics is GET /statistics/devices.
type RegistryStatistics struct {
	TotalDeviceCount    int64 `json:"totalDeviceCount"`
	EnabledDeviceCount  int64 `json:"enabledDeviceCount"`
	DisabledDeviceCount int64 `json:"disabledDeviceCount"`
}

// ServiceStatistics is GET /statistics/service.
type ServiceStatistics struct {
	ConnectedDeviceCount int64 `json:"connectedDeviceCount"`
}

// Statistics counts devices by status and connection.
func (h *Hub) Statistics() (RegistryStatistics, ServiceStatistics) {
	var rs RegistryStatistics
	var ss ServiceStatistics
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, e := range h.entries {
		if e.kind != deviceKind {
			continue
		}
		rs.TotalDeviceCount++
		if e.status == registry.StatusEnabled {
			rs.EnabledDeviceCount++
		} else {
			rs.DisabledDeviceCount++
		}
		if e.connected {
			ss.ConnectedDeviceCount++
		}
	}
	return rs, ss
}
