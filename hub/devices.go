package hub

import (
	"context"
	"slices"
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

// PutDevice creates (no If-Match) or updates (If-Match, "*" included) a
// device identity from a REST body, as PUT /devices/{id} does.
func (h *Hub) PutDevice(ctx context.Context, id string, body []byte, ifMatch string) (registry.Device, error) {
	if err := registry.ValidateID("Device", id); err != nil {
		return registry.Device{}, err
	}
	in, err := registry.ParseDeviceInput(id, body)
	if err != nil {
		return registry.Device{}, err
	}
	unlock := h.locks.Lock(id)
	defer unlock()

	cur := h.get(id)
	switch {
	case cur == nil && hasIfMatch(ifMatch):
		return registry.Device{}, deviceNotFound(id)
	case cur != nil && !hasIfMatch(ifMatch):
		return registry.Device{}, errcode.New(errcode.DeviceAlreadyExists, "A device with ID '%s' is already registered.", id)
	case cur != nil && !etagMatches(ifMatch, cur.etag):
		return registry.Device{}, etagMismatch(ifMatch)
	}

	now := h.stamp()
	var next *entry
	if cur == nil {
		next = &entry{identity: newIdentity(id, "", h.now()), twin: twin.New(h.now())}
	} else {
		next = cur.with()
	}
	d := &next.identity
	d.etagSeq = h.etagSeq.Add(1)
	d.etag = registry.ETag(d.etagSeq)
	if cur != nil && d.status != in.Status {
		d.statusUpdated = now
	}
	d.status = in.Status
	d.statusReason = in.StatusReason
	d.auth = *in.Authentication
	if in.Capabilities != nil {
		d.capabilities = *in.Capabilities
	}
	d.deviceScope = in.DeviceScope
	d.parentScopes = slices.Clone(in.ParentScopes)

	if err := h.commit(ctx, id, next); err != nil {
		return registry.Device{}, err
	}
	if cur != nil {
		old := cur.identity
		if (d.status == registry.StatusDisabled && old.status != registry.StatusDisabled) || credentialsChanged(old.auth, d.auth) {
			h.disconnect(id, "")
		}
	}
	if cur == nil {
		h.stats.registryOps.Inc("create-device")
	} else {
		h.stats.registryOps.Inc("update-device")
	}
	h.log.Debug("device written", "device", id, "created", cur == nil)
	return d.toDevice(), nil
}

func (h *Hub) disconnect(deviceID, moduleID string) {
	if n := h.notify(); n != nil {
		n.Disconnect(deviceID, moduleID)
	}
}

// GetDevice returns a device identity.
func (h *Hub) GetDevice(_ context.Context, id string) (registry.Device, error) {
	e := h.device(id)
	if e == nil {
		return registry.Device{}, deviceNotFound(id)
	}
	return e.toDevice(), nil
}

// DeleteDevice deletes a device with its twin and its modules; If-Match is optional.
func (h *Hub) DeleteDevice(ctx context.Context, id, ifMatch string) error {
	unlock := h.locks.Lock(id)
	defer unlock()
	cur := h.device(id)
	if cur == nil {
		return deviceNotFound(id)
	}
	if !etagMatches(ifMatch, cur.etag) {
		return etagMismatch(ifMatch)
	}
	if err := h.removeDevice(ctx, id); err != nil {
		return err
	}
	h.stats.registryOps.Inc("delete-device")
	h.log.Debug("device deleted", "device", id)
	return nil
}

// moduleKeys lists the identity keys of a device's modules.
func (h *Hub) moduleKeys(deviceID string) []string {
	prefix := deviceID + "/"
	return h.sortedKeys(func(k string, _ *entry) bool { return strings.HasPrefix(k, prefix) })
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

// DeviceIDs returns every device id in order (unlike ListDevices, uncapped).
func (h *Hub) DeviceIDs() []string {
	return h.sortedKeys(func(_ string, e *entry) bool { return e.kind == deviceKind })
}

func deviceNotFound(id string) error {
	return errcode.New(errcode.DeviceNotFound, "Device %s not registered", id)
}

// device returns a device's entry, or nil.
func (h *Hub) device(id string) *entry {
	if e := h.get(id); e != nil && e.kind == deviceKind {
		return e
	}
	return nil
}
