package hub

import (
	"context"
	"slices"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/parallel"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/store"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// NewIdentity is one identity CreateMany creates, with its twin.
type NewIdentity struct {
	DeviceID, ModuleID string
	// Body is the identity as a PUT body, unless DeviceInput or
	// ModuleInput is set.
	Body []byte
	// Tags and Desired, if set, are the twin's sections, and Reported its
	// reported properties as the device would send them: decoded JSON
	// values (a bulk load holds them so), checked as bodies would be.
	Tags, Desired, Reported map[string]any
	// Twin, if set, is the twin instead: one twin.Build made of the
	// sections ahead of time (a bulk load checks its document so before
	// writing anything). CreateMany takes it over and stamps it with the
	// time of the create, in place.
	Twin *twin.Twin
	// DeviceInput or ModuleInput, if set, is the identity as the registry
	// parsed its PUT body ahead of time (a bulk load checks its document
	// so), in place of Body.
	DeviceInput *registry.DeviceInput
	ModuleInput *registry.ModuleInput
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
	keys := make([]string, len(items))
	seen := make(map[string]bool, len(items))
	newModules := map[string]int{}
	for i, it := range items {
		key := identityKey(it.DeviceID, it.ModuleID)
		if h.get(key) != nil || seen[key] {
			return alreadyExists(it.DeviceID, it.ModuleID)
		}
		seen[key], keys[i] = true, key
		if it.ModuleID != "" {
			if h.get(it.DeviceID) == nil && !seen[it.DeviceID] {
				return deviceNotFound(it.DeviceID)
			}
			newModules[it.DeviceID]++
		}
	}
	for dev, n := range newModules {
		if len(h.moduleKeys(dev))+n > registry.MaxModulesPerDevice {
			return errcode.New(errcode.TooManyModulesOnDevice, "Device '%s' would have more than %d modules, the most a device may have.", dev, registry.MaxModulesPerDevice)
		}
	}

	// Decoding and checking each item is independent work: spread it over
	// the cores. The first error in item order refuses the call.
	entries := make([]*entry, len(items))
	errs := make([]error, len(items))
	parallel.For(len(items), func(i int) { entries[i], errs[i] = newEntry(items[i], now, stamp) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	// Etags in item order, then the system modules of IoT Edge devices.
	for _, e := range entries {
		e.etagSeq = h.etagSeq.Add(1)
		e.etag = registry.ETag(e.etagSeq)
	}
	for i, it := range items {
		if it.ModuleID != "" {
			continue
		}
		sys, err := h.edgeModules(entries[i])
		if err != nil {
			return err
		}
		for k, e := range sys {
			if !seen[k] {
				seen[k], keys, entries = true, append(keys, k), append(entries, e)
			}
		}
	}

	// Encoding the records, on every core.
	opsOf := make([][]store.Op, len(entries))
	parallel.For(len(entries), func(i int) { opsOf[i] = h.ops(keys[i], entries[i], true) })
	all := make([]store.Op, 0, 2*len(entries))
	for i := range entries {
		all = append(all, opsOf[i]...)
	}
	if err := h.storeErr(h.store.Apply(ctx, all...)); err != nil {
		return err
	}
	for i, e := range entries {
		h.publish(keys[i], e)
		h.stats.registryOps.Inc("create-" + e.kind.String())
	}
	h.log.Debug("identities created in bulk", "identities", len(entries))
	return nil
}

// newEntry builds one new identity with its twin.
func newEntry(it NewIdentity, now, stamp time.Time) (*entry, error) {
	in, err := inputFor(it.DeviceID, it.ModuleID, it.Body, it.DeviceInput, it.ModuleInput)
	if err != nil {
		return nil, err
	}
	e := &entry{identity: newIdentity(it.DeviceID, it.ModuleID, now)}
	e.set(in, stamp, false)
	if it.Twin != nil {
		it.Twin.Restamp(now)
		e.twin = it.Twin
		return e, nil
	}
	if e.twin, err = twin.Build(now, it.Tags, it.Desired, it.Reported); err != nil {
		return nil, err
	}
	return e, nil
}
