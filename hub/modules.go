package hub

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

func moduleNotFound(deviceID, moduleID string) error {
	return errcode.New(errcode.ModuleNotFound, "Module %s on device %s not found", moduleID, deviceID)
}

// lookup returns the entry of a device or module, with the hub's error for
// whichever is missing.
func (h *Hub) lookup(deviceID, moduleID string) (*entry, error) {
	if moduleID == "" {
		e := h.device(deviceID)
		if e == nil {
			return nil, deviceNotFound(deviceID)
		}
		return e, nil
	}
	if e := h.get(identityKey(deviceID, moduleID)); e != nil {
		return e, nil
	}
	if d := h.get(deviceID); d == nil {
		return nil, deviceNotFound(deviceID)
	}
	return nil, moduleNotFound(deviceID, moduleID)
}

// PutModule creates (no If-Match) or updates (If-Match) a module identity.
// Every write to a device's modules holds the device's lock, so a module can
// never outlive a concurrent delete of its device.
func (h *Hub) PutModule(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string) (registry.Module, error) {
	if err := registry.ValidateID("Module", moduleID); err != nil {
		return registry.Module{}, err
	}
	in, err := registry.ParseModuleInput(deviceID, moduleID, body)
	if err != nil {
		return registry.Module{}, err
	}
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	if h.device(deviceID) == nil {
		return registry.Module{}, deviceNotFound(deviceID)
	}
	key := identityKey(deviceID, moduleID)
	cur := h.get(key)
	switch {
	case cur == nil && hasIfMatch(ifMatch):
		return registry.Module{}, moduleNotFound(deviceID, moduleID)
	case cur != nil && !hasIfMatch(ifMatch):
		return registry.Module{}, errcode.New(errcode.ModuleAlreadyExistsOnDevice, "A module with ID '%s' already exists on device '%s'.", moduleID, deviceID)
	case cur != nil && !etagMatches(ifMatch, cur.etag):
		return registry.Module{}, etagMismatch(ifMatch)
	case cur == nil && len(h.moduleKeys(deviceID)) >= registry.MaxModulesPerDevice:
		return registry.Module{}, errcode.New(errcode.TooManyModulesOnDevice, "Device '%s' already has %d modules, the most a device may have.", deviceID, registry.MaxModulesPerDevice)
	}
	var next *entry
	if cur == nil {
		next = &entry{identity: newIdentity(deviceID, moduleID, h.now()), twin: twin.New(h.now())}
		next.status = registry.StatusEnabled
	} else {
		next = cur.with()
	}
	m := &next.identity
	m.etagSeq = h.etagSeq.Add(1)
	m.etag = registry.ETag(m.etagSeq)
	m.managedBy = in.ManagedBy
	m.auth = *in.Authentication
	if err := h.commit(ctx, key, next); err != nil {
		return registry.Module{}, err
	}
	if cur != nil && credentialsChanged(cur.auth, m.auth) {
		h.disconnect(deviceID, moduleID)
	}
	if cur == nil {
		h.stats.registryOps.Inc("create-module")
	} else {
		h.stats.registryOps.Inc("update-module")
	}
	h.log.Debug("module written", "device", deviceID, "module", moduleID, "created", cur == nil)
	return m.toModule(), nil
}

// GetModule returns a module identity.
func (h *Hub) GetModule(_ context.Context, deviceID, moduleID string) (registry.Module, error) {
	e, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return registry.Module{}, err
	}
	return e.toModule(), nil
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

// DeleteModule deletes a module and its twin; If-Match is optional.
func (h *Hub) DeleteModule(ctx context.Context, deviceID, moduleID, ifMatch string) error {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return err
	}
	if !etagMatches(ifMatch, cur.etag) {
		return etagMismatch(ifMatch)
	}
	if err := h.commit(ctx, identityKey(deviceID, moduleID), nil); err != nil {
		return err
	}
	h.disconnect(deviceID, moduleID)
	h.stats.registryOps.Inc("delete-module")
	return nil
}
