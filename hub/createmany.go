package hub

import (
	"context"
	"slices"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// NewIdentity is one identity CreateMany creates, with its twin.
type NewIdentity struct {
	DeviceID, ModuleID string
	// Body is the identity as a PUT body.
	Body []byte
	// Twin, if set, is a twin PUT body: tags and properties.desired.
	Twin []byte
	// Reported, if set, is a reported-properties patch, as the device would
	// send it.
	Reported []byte
}

// CreateMany creates identities that do not exist yet, with their twins,
// in one store transaction: a bulk load (a seed document, a large
// fleet) costs one commit instead of three per identity. A module's
// device must exist or come earlier in items. Every item is checked
// first, so a refused call (an invalid item, an identity that exists, too
// many modules on a device) writes nothing. IoT Edge devices get their
// system modules unless items name them.
func (h *Hub) CreateMany(ctx context.Context, items []NewIdentity) error {
	if len(items) == 0 {
		return nil
	}
	devices := make([]string, 0, len(items))
	for _, it := range items {
		devices = append(devices, it.DeviceID)
	}
	slices.Sort(devices)
	devices = slices.Compact(devices)
	// Locks in id order: every other writer holds one device lock at a
	// time, so this cannot deadlock.
	for _, id := range devices {
		unlock := h.locks.Lock(id)
		defer unlock()
	}

	now, stamp := h.now(), h.stamp()
	changes := make(map[string]*entry, len(items))
	newModules := map[string]int{}
	for _, it := range items {
		key := identityKey(it.DeviceID, it.ModuleID)
		if h.get(key) != nil || changes[key] != nil {
			return alreadyExists(it.DeviceID, it.ModuleID)
		}
		if it.ModuleID != "" {
			if h.get(it.DeviceID) == nil && changes[it.DeviceID] == nil {
				return deviceNotFound(it.DeviceID)
			}
			newModules[it.DeviceID]++
		}
		in, err := parseInput(it.DeviceID, it.ModuleID, it.Body)
		if err != nil {
			return err
		}
		e := &entry{identity: newIdentity(it.DeviceID, it.ModuleID, now), twin: twin.New(now)}
		e.set(in, stamp, false)
		if len(it.Twin) > 0 {
			u, err := twin.ParseServiceBody(it.Twin)
			if err != nil {
				return err
			}
			if e.twin, _, err = e.twin.Replaced(u, now); err != nil {
				return err
			}
		}
		if len(it.Reported) > 0 {
			if e.twin, err = e.twin.PatchedReported(it.Reported, now); err != nil {
				return err
			}
		}
		changes[key] = e
	}
	for dev, n := range newModules {
		if len(h.moduleKeys(dev))+n > registry.MaxModulesPerDevice {
			return errcode.New(errcode.TooManyModulesOnDevice, "Device '%s' would have more than %d modules, the most a device may have.", dev, registry.MaxModulesPerDevice)
		}
	}
	// Etags in item order, then the system modules of IoT Edge devices.
	for _, it := range items {
		e := changes[identityKey(it.DeviceID, it.ModuleID)]
		e.etagSeq = h.etagSeq.Add(1)
		e.etag = registry.ETag(e.etagSeq)
	}
	for _, it := range items {
		if it.ModuleID != "" {
			continue
		}
		sys, err := h.edgeModules(changes[it.DeviceID])
		if err != nil {
			return err
		}
		for k, e := range sys {
			if changes[k] == nil {
				changes[k] = e
			}
		}
	}
	if err := h.persist(ctx, changes); err != nil {
		return err
	}
	for k, e := range changes {
		h.publish(k, e)
		h.stats.registryOps.Inc("create-" + e.kind.String())
	}
	h.log.Debug("identities created in bulk", "identities", len(changes))
	return nil
}
