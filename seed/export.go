package seed

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// Export describes every device and module of h, in id order, with its
// status, credentials, tags, desired and reported properties (no $metadata
// or $version), in canonical form. Applying it to an empty hub gives a hub
// with the same identities and twins.
//
// Each identity is read consistently, the hub as a whole is not: an
// identity deleted while Export runs is left out, one created meanwhile may
// be.
func Export(ctx context.Context, h *hub.Hub) (*Document, error) {
	return ExportWithProvisioning(ctx, h, nil)
}

// ExportWithProvisioning is Export with the CAs trusted at runtime (the
// hub's TrustCAs) and, when p is not nil, the provisioning service's
// enrollment groups and enrollments, keys and certificates in full, so
// that applying the document to an empty emulator gives the same.
func ExportWithProvisioning(ctx context.Context, h *hub.Hub, p *dps.Service) (*Document, error) {
	d := &Document{Devices: []Device{}}
	if err := exportProvisioning(h, p, d); err != nil {
		return nil, err
	}
	for _, id := range h.DeviceIDs() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dev, ok, err := exportDevice(ctx, h, id)
		if err != nil {
			return nil, err
		}
		if ok {
			d.Devices = append(d.Devices, dev)
		}
	}
	return d, nil
}

// gone reports whether err says the identity no longer exists.
func gone(err error) bool {
	return errcode.Is(err, errcode.DeviceNotFound) || errcode.Is(err, errcode.ModuleNotFound)
}

func exportDevice(ctx context.Context, h *hub.Hub, id string) (Device, bool, error) {
	cur, err := h.GetDevice(ctx, id)
	if gone(err) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, err
	}
	dev := Device{ID: id, Status: cur.Status, Edge: cur.Capabilities.IotEdge}
	dev.Auth, dev.Keys, dev.Thumbprints = exportAuth(cur.Authentication)
	if err := exportTwin(ctx, h, id, "", dev.identity()); err != nil {
		if gone(err) {
			return Device{}, false, nil
		}
		return Device{}, false, err
	}
	mods, err := h.ListModules(ctx, id)
	if gone(err) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, err
	}
	for _, m := range mods {
		mod := Module{ID: m.ModuleID}
		mod.Auth, mod.Keys, mod.Thumbprints = exportAuth(m.Authentication)
		if err := exportTwin(ctx, h, id, m.ModuleID, mod.identity()); err != nil {
			if gone(err) {
				continue
			}
			return Device{}, false, err
		}
		if dev.Edge && systemModule(m.ModuleID) && len(mod.Tags) == 0 && len(mod.Desired) == 0 && len(mod.Reported) == 0 {
			continue
		}
		dev.Modules = append(dev.Modules, mod)
	}
	return dev, true, nil
}

// systemModule reports whether a module is one the hub creates with every
// IoT Edge device. Such a module whose twin holds nothing is left out of
// an export: edge: true brings it back (with new keys), so a seed document
// need not list it, and exporting what a document applied gives the
// document back.
func systemModule(id string) bool { return id == hub.EdgeAgent || id == hub.EdgeHub }

func exportAuth(a registry.Authentication) (string, *Keys, *Thumbprints) {
	var keys *Keys
	if k := a.SymmetricKey; a.Type == registry.AuthSAS && k != nil {
		keys = copyKeys(&Keys{Primary: k.PrimaryKey, Secondary: k.SecondaryKey})
	}
	var thumbs *Thumbprints
	if a.Type == registry.AuthSelfSigned {
		thumbs = copyThumbprints(&Thumbprints{
			Primary:   deref(a.X509Thumbprint.PrimaryThumbprint),
			Secondary: deref(a.X509Thumbprint.SecondaryThumbprint),
		})
	}
	return a.Type, keys, thumbs
}

func exportTwin(ctx context.Context, h *hub.Hub, deviceID, moduleID string, x identity) error {
	view, err := h.GetTwin(ctx, deviceID, moduleID)
	if err != nil {
		return err
	}
	tags, desired, reported := viewSections(view)
	for _, s := range []struct {
		dst *Properties
		src map[string]any
	}{{x.tags, tags}, {x.desired, desired}, {x.reported, reported}} {
		if len(s.src) == 0 {
			*s.dst = nil
			continue
		}
		// A deep copy, so the document never shares the hub's maps.
		n, err := normalize("", s.src)
		if err != nil {
			return errcode.Wrap(errcode.ServerError, err, "the twin of %s holds a value that is not JSON", deviceID)
		}
		*s.dst = n.(map[string]any)
	}
	return nil
}
