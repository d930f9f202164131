package seed

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// Result says what Apply did to each identity the document lists, named
// "deviceId" or "deviceId/moduleId", in document order.
type Result struct {
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Unchanged []string `json:"unchanged"`
}

// Apply makes h match d for every identity d lists: it creates what is
// missing and, where something differs, sets the status, edge capability,
// credentials, tags and desired properties to the document's and patches the
// reported properties (as the device would) until they equal it. Other
// identities, and modules a listed device has but the document does not
// name, are left alone; nothing is deleted.
//
// Writes happen only where something differs, so applying a document a
// second time changes nothing, not even versions or etags. Between two
// applies, versions and etags of whatever the second one resets still move
// on, as with any write.
//
// The document is checked before anything is written (as Parse checks it,
// and against the hub: module counts), so a bad document changes nothing.
// A failure while writing (the store, a concurrent change of the same
// identity) stops Apply with what was written so far kept; applying again
// completes it.
func Apply(ctx context.Context, h *hub.Hub, d *Document) (Result, error) {
	return ApplyWithProvisioning(ctx, h, nil, d)
}

// ApplyWithProvisioning is Apply for a hub with its Device Provisioning
// Service: it also trusts the document's x509CAs (before the identities),
// then writes its enrollment groups and enrollments to p where they
// differ, named "x509CA <subject>", "enrollmentGroup <id>" and
// "enrollment <id>" in the result. With p nil, a document that has
// enrollments is refused before anything is written.
func ApplyWithProvisioning(ctx context.Context, h *hub.Hub, p *dps.Service, d *Document) (Result, error) {
	doc, err := prepare(d, nil)
	if err != nil {
		return Result{Created: []string{}, Updated: []string{}, Unchanged: []string{}}, err
	}
	return applyPrepared(ctx, h, p, doc)
}

// applyPrepared is ApplyWithProvisioning for a document prepare returned
// (as Parse does): checking a large document once is enough.
func applyPrepared(ctx context.Context, h *hub.Hub, p *dps.Service, doc *Document) (Result, error) {
	res := Result{Created: []string{}, Updated: []string{}, Unchanged: []string{}}
	if p == nil && doc.hasProvisioning() {
		return res, errNoProvisioning
	}
	if err := checkAgainstHub(ctx, h, doc); err != nil {
		return res, err
	}
	if err := applyCAs(h, doc, &res); err != nil {
		return res, err
	}
	if err := applyDevices(ctx, h, doc, &res); err != nil {
		return res, err
	}
	if p != nil {
		if err := applyEnrollments(ctx, p, doc, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// createBatch is how many identities one bulk create writes: large enough
// that a big document costs few commits, small enough that one holds
// little memory and few device locks.
const createBatch = 1000

func applyDevices(ctx context.Context, h *hub.Hub, doc *Document, res *Result) error {
	// Devices the hub does not have are created in bulk, with their
	// modules and twins; the others are compared and updated one by one.
	var batch []hub.NewIdentity
	var batchKeys []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := h.CreateMany(ctx, batch); err != nil {
			return applyError(batchKeys[0]+" (and the identities created with it)", err)
		}
		for _, k := range batchKeys {
			res.add(k, created)
		}
		batch, batchKeys = batch[:0], batchKeys[:0]
		return nil
	}
	for i := range doc.Devices {
		if err := ctx.Err(); err != nil {
			return err
		}
		dev := &doc.Devices[i]
		if !h.HasDevice(dev.ID) {
			items, err := newIdentities(dev)
			if err != nil {
				return applyError(dev.ID, err)
			}
			batch = append(batch, items...)
			batchKeys = append(batchKeys, dev.ID)
			for _, m := range dev.Modules {
				batchKeys = append(batchKeys, dev.ID+"/"+m.ID)
			}
			if len(batch) >= createBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		outcome, err := applyDevice(ctx, h, dev)
		if err != nil {
			return applyError(dev.ID, err)
		}
		res.add(dev.ID, outcome)
		for j := range dev.Modules {
			m := &dev.Modules[j]
			key := dev.ID + "/" + m.ID
			outcome, err := applyModule(ctx, h, dev.ID, m)
			if err != nil {
				return applyError(key, err)
			}
			res.add(key, outcome)
		}
	}
	return flush()
}

// newIdentities is a device the hub does not have, and its modules, as
// CreateMany takes them.
func newIdentities(d *Device) ([]hub.NewIdentity, error) {
	if d.parsed == nil {
		in, err := registry.CheckDeviceInput(d.ID, deviceInput(d, nil))
		if err != nil {
			return nil, err
		}
		d.parsed = &in
	}
	dev, err := newIdentity(d.ID, "", d.identity())
	if err != nil {
		return nil, err
	}
	dev.DeviceInput = d.parsed
	out := []hub.NewIdentity{dev}
	for i := range d.Modules {
		m := &d.Modules[i]
		if m.parsed == nil {
			in, err := registry.CheckModuleInput(d.ID, m.ID, moduleInput(d.ID, m, nil))
			if err != nil {
				return nil, err
			}
			m.parsed = &in
		}
		mod, err := newIdentity(d.ID, m.ID, m.identity())
		if err != nil {
			return nil, err
		}
		mod.ModuleInput = m.parsed
		out = append(out, mod)
	}
	return out, nil
}

func newIdentity(deviceID, moduleID string, x identity) (hub.NewIdentity, error) {
	n := hub.NewIdentity{DeviceID: deviceID, ModuleID: moduleID}
	if *x.built != nil {
		n.Twin, *x.built = *x.built, nil // CreateMany takes it over
		return n, nil
	}
	if t := orEmpty(*x.tags); len(t) > 0 {
		n.Tags = t
	}
	if d := orEmpty(*x.desired); len(d) > 0 {
		n.Desired = d
	}
	if r := orEmpty(*x.reported); len(r) > 0 {
		n.Reported = r
	}
	return n, nil
}

type outcome int

const (
	unchanged outcome = iota
	created
	updated
)

func (r *Result) add(key string, o outcome) {
	switch o {
	case created:
		r.Created = append(r.Created, key)
	case updated:
		r.Updated = append(r.Updated, key)
	default:
		r.Unchanged = append(r.Unchanged, key)
	}
}

// applyError names the identity in the hub's error, keeping its code.
func applyError(key string, err error) error {
	e := errcode.From(err)
	return errcode.Wrap(e.Code, err, "Applying the seed document to %s failed: %s", key, e.Message)
}

// checkAgainstHub refuses a document that the hub's current state would
// stop half-way: a device whose modules, with those it already has that the
// document does not name, would be more than a device may have.
func checkAgainstHub(ctx context.Context, h *hub.Hub, d *Document) error {
	for _, dev := range d.Devices {
		if !h.HasDevice(dev.ID) {
			continue
		}
		have, err := h.ListModules(ctx, dev.ID)
		if errcode.Is(err, errcode.DeviceNotFound) {
			continue // deleted since
		}
		if err != nil {
			return err
		}
		total := len(dev.Modules)
		for _, m := range have {
			if !dev.hasModule(m.ModuleID) {
				total++
			}
		}
		if total > registry.MaxModulesPerDevice {
			return invalidDoc("device %q would have %d modules (it already has %d the document does not name); a device may have at most %d",
				dev.ID, total, total-len(dev.Modules), registry.MaxModulesPerDevice)
		}
	}
	return nil
}

func (d *Device) hasModule(id string) bool {
	for _, m := range d.Modules {
		if m.ID == id {
			return true
		}
	}
	return false
}

func applyDevice(ctx context.Context, h *hub.Hub, d *Device) (outcome, error) {
	cur, err := h.GetDevice(ctx, d.ID)
	var o outcome
	switch {
	case errcode.Is(err, errcode.DeviceNotFound):
		body, err := json.Marshal(deviceInput(d, nil))
		if err != nil {
			return 0, fmt.Errorf("encode device: %w", err)
		}
		if _, err := h.PutDevice(ctx, d.ID, body, ""); err != nil {
			return 0, err
		}
		o = created
	case err != nil:
		return 0, err
	default:
		in := deviceInput(d, &cur)
		if cur.Status != in.Status || cur.Capabilities.IotEdge != in.Capabilities.IotEdge || !sameAuth(cur.Authentication, in.Authentication) {
			body, err := json.Marshal(in)
			if err != nil {
				return 0, fmt.Errorf("encode device: %w", err)
			}
			// Conditional on what was read: a concurrent change is reported, not overwritten.
			if _, err := h.PutDevice(ctx, d.ID, body, cur.ETag); err != nil {
				return 0, err
			}
			o = updated
		}
	}
	changed, err := applyTwin(ctx, h, d.ID, "", d.identity())
	if err != nil {
		return 0, err
	}
	if changed && o == unchanged {
		o = updated
	}
	return o, nil
}

func applyModule(ctx context.Context, h *hub.Hub, deviceID string, m *Module) (outcome, error) {
	cur, err := h.GetModule(ctx, deviceID, m.ID)
	var o outcome
	switch {
	case errcode.Is(err, errcode.ModuleNotFound):
		body, err := json.Marshal(moduleInput(deviceID, m, nil))
		if err != nil {
			return 0, fmt.Errorf("encode module: %w", err)
		}
		if _, err := h.PutModule(ctx, deviceID, m.ID, body, ""); err != nil {
			return 0, err
		}
		o = created
	case err != nil:
		return 0, err
	default:
		in := moduleInput(deviceID, m, &cur)
		if !sameAuth(cur.Authentication, in.Authentication) {
			body, err := json.Marshal(in)
			if err != nil {
				return 0, fmt.Errorf("encode module: %w", err)
			}
			if _, err := h.PutModule(ctx, deviceID, m.ID, body, cur.ETag); err != nil {
				return 0, err
			}
			o = updated
		}
	}
	changed, err := applyTwin(ctx, h, deviceID, m.ID, m.identity())
	if err != nil {
		return 0, err
	}
	if changed && o == unchanged {
		o = updated
	}
	return o, nil
}

// applyTwin replaces tags and desired properties where they differ (only
// the sections that differ, so an unchanged desired section sends devices
// no notification) and patches reported properties to match.
func applyTwin(ctx context.Context, h *hub.Hub, deviceID, moduleID string, x identity) (bool, error) {
	view, err := h.GetTwin(ctx, deviceID, moduleID)
	if err != nil {
		return false, err
	}
	tags, desired, reported := viewSections(view)
	wantTags, wantDesired, wantReported := orEmpty(*x.tags), orEmpty(*x.desired), orEmpty(*x.reported)

	body := map[string]any{}
	if !reflect.DeepEqual(tags, wantTags) {
		body["tags"] = wantTags
	}
	if !reflect.DeepEqual(desired, wantDesired) {
		body["properties"] = map[string]any{"desired": wantDesired}
	}
	changed := false
	if len(body) > 0 {
		b, err := json.Marshal(body)
		if err != nil {
			return false, fmt.Errorf("encode twin: %w", err)
		}
		// Unconditional: a device reporting meanwhile moves the etag, and the
		// document decides these sections anyway.
		if _, err := h.UpdateTwin(ctx, deviceID, moduleID, b, "", true); err != nil {
			return false, err
		}
		changed = true
	}
	if patch := mergePatch(reported, wantReported); len(patch) > 0 {
		b, err := json.Marshal(patch)
		if err != nil {
			return false, fmt.Errorf("encode reported patch: %w", err)
		}
		if _, err := h.PatchReported(ctx, deviceID, moduleID, b); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}
