package seed

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/parallel"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// maxProblems is how many problems one error lists; a file with more has
// one mistake repeated, and the first few show it.
const maxProblems = 20

// Validate checks d as Parse does, without changing it: ids, statuses,
// authentication, keys and twin content, CA certificates and enrollments.
func (d *Document) Validate() error {
	_, err := prepare(d, nil)
	return err
}

// problems collects what is wrong with a document.
type problems struct {
	list  []string
	lines locator
}

func (p *problems) add(dev, mod int, id, format string, args ...any) {
	if len(p.list) < maxProblems+1 {
		p.list = append(p.list, where(p.lines, dev, mod, id)+": "+fmt.Sprintf(format, args...))
	}
}

func (p *problems) err() error {
	switch n := len(p.list); {
	case n == 0:
		return nil
	case n == 1:
		return invalidDoc("%s", p.list[0])
	case n > maxProblems:
		return invalidDoc("more than %d problems, the first:\n%s", maxProblems, strings.Join(p.list[:maxProblems], "\n"))
	default:
		return invalidDoc("%d problems:\n%s", n, strings.Join(p.list, "\n"))
	}
}

// prepare returns a canonical deep copy of d, or every problem found in it.
// A valid document (the usual case, and a large one) is checked device by
// device on every core; one with problems is checked again in order, so
// that its problems read the same whatever the machine.
func prepare(d *Document, lines locator) (*Document, error) {
	if d == nil {
		return nil, invalidDoc("there is no document")
	}
	if out, ok := prepareParallel(d); ok {
		return out, nil
	}
	p := &problems{lines: lines}
	out := &Document{Devices: make([]Device, 0, len(d.Devices))}
	seen := map[string]int{}
	for i, in := range d.Devices {
		checkDeviceID(p, seen, i, in.ID)
		out.Devices = append(out.Devices, checkDevice(p, i, in))
	}
	prepareProvisioning(p, d, out)
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// prepareParallel is prepare for a document without problems; ok is false
// as soon as one is found.
func prepareParallel(d *Document) (*Document, bool) {
	p := &problems{}
	seen := make(map[string]int, len(d.Devices))
	for i := range d.Devices {
		checkDeviceID(p, seen, i, d.Devices[i].ID)
	}
	if len(p.list) > 0 {
		return nil, false
	}
	out := &Document{Devices: make([]Device, len(d.Devices))}
	var clean atomic.Bool
	clean.Store(true)
	parallel.For(len(d.Devices), func(i int) {
		dp := &problems{}
		out.Devices[i] = checkDevice(dp, i, d.Devices[i])
		if len(dp.list) > 0 {
			clean.Store(false)
		}
	})
	if !clean.Load() {
		return nil, false
	}
	prepareProvisioning(p, d, out)
	return out, len(p.list) == 0
}

// checkDeviceID checks device i's id and that no earlier device has it.
func checkDeviceID(p *problems, seen map[string]int, i int, id string) {
	if err := registry.ValidateID("Device", id); err != nil {
		p.add(i, -1, "", "%s", errcode.From(err).Message)
	} else if first, dup := seen[id]; dup {
		p.add(i, -1, id, "the device id is already used by devices[%d]", first)
	} else {
		seen[id] = i
	}
}

// checkDevice returns the canonical copy of device i and its modules,
// adding what is wrong with them to p. The registry's own parser runs only
// while p has no problems.
func checkDevice(p *problems, i int, in Device) Device {
	dev := in
	switch strings.ToLower(dev.Status) {
	case "", registry.StatusEnabled:
		dev.Status = registry.StatusEnabled
	case registry.StatusDisabled:
		dev.Status = registry.StatusDisabled
	default:
		p.add(i, -1, dev.ID, "status must be enabled or disabled, not %q", dev.Status)
	}
	dev.Keys, dev.Thumbprints = copyKeys(dev.Keys), copyThumbprints(dev.Thumbprints)
	checkIdentity(p, i, -1, dev.ID, dev.identity())
	if len(dev.Modules) > registry.MaxModulesPerDevice {
		p.add(i, -1, dev.ID, "%d modules; a device may have at most %d", len(dev.Modules), registry.MaxModulesPerDevice)
	}
	dev.Modules = nil
	mods := map[string]int{}
	for j, m := range in.Modules {
		if err := registry.ValidateID("Module", m.ID); err != nil {
			p.add(i, j, "", "%s", errcode.From(err).Message)
		} else if first, dup := mods[m.ID]; dup {
			p.add(i, j, m.ID, "the module id is already used by modules[%d]", first)
		} else {
			mods[m.ID] = j
		}
		m.Keys, m.Thumbprints = copyKeys(m.Keys), copyThumbprints(m.Thumbprints)
		checkIdentity(p, i, j, m.ID, m.identity())
		dev.Modules = append(dev.Modules, m)
	}
	if len(p.list) == 0 {
		checkRegistryAccepts(p, i, &dev)
	}
	return dev
}

// note adds a problem that is not an identity's.
func (p *problems) note(format string, args ...any) {
	if len(p.list) < maxProblems+1 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func copyKeys(k *Keys) *Keys {
	if k == nil || *k == (Keys{}) {
		return nil
	}
	c := *k
	return &c
}

func copyThumbprints(t *Thumbprints) *Thumbprints {
	if t == nil || *t == (Thumbprints{}) {
		return nil
	}
	c := *t
	return &c
}

// authTypes maps the accepted spellings of an authentication type.
var authTypes = map[string]string{
	strings.ToLower(registry.AuthSAS):                  registry.AuthSAS,
	strings.ToLower(registry.AuthSelfSigned):           registry.AuthSelfSigned,
	strings.ToLower(registry.AuthCertificateAuthority): registry.AuthCertificateAuthority,
	strings.ToLower(registry.AuthNone):                 registry.AuthNone,
}

// checkIdentity canonicalises and checks what devices and modules share;
// id.auth and the sections are rewritten in place (on the copy).
func checkIdentity(p *problems, dev, mod int, id string, x identity) {
	switch canonical, ok := authTypes[strings.ToLower(*x.auth)]; {
	case *x.auth == "" && x.thumbprints != nil:
		*x.auth = registry.AuthSelfSigned
	case *x.auth == "":
		*x.auth = registry.AuthSAS
	case ok:
		*x.auth = canonical
	default:
		p.add(dev, mod, id, "auth must be sas, selfSigned, certificateAuthority or none, not %q", *x.auth)
	}
	if x.keys != nil {
		if *x.auth != registry.AuthSAS {
			p.add(dev, mod, id, "keys are only for auth sas, not %s", *x.auth)
		}
		for _, k := range []struct{ name, v string }{{"primary", x.keys.Primary}, {"secondary", x.keys.Secondary}} {
			if k.v == "" {
				continue
			}
			if raw, err := base64.StdEncoding.DecodeString(k.v); err != nil {
				p.add(dev, mod, id, "keys.%s is not base64", k.name)
			} else if len(raw) < 16 || len(raw) > 64 {
				p.add(dev, mod, id, "keys.%s decodes to %d bytes; a key must be 16 to 64 bytes", k.name, len(raw))
			}
		}
	}
	switch {
	case *x.auth == registry.AuthSelfSigned && (x.thumbprints == nil || x.thumbprints.Primary == ""):
		p.add(dev, mod, id, "auth selfSigned needs thumbprints.primary")
	case *x.auth != registry.AuthSelfSigned && x.thumbprints != nil:
		p.add(dev, mod, id, "thumbprints are only for auth selfSigned, not %s", *x.auth)
	}
	checkSections(p, dev, mod, id, x)
}

// checkSections normalises the twin sections and applies them to a fresh
// twin, so that every rule of the hub (keys, values, depth, sizes) is
// checked before anything is written.
func checkSections(p *problems, dev, mod int, id string, x identity) {
	ok := map[string]bool{}
	for _, s := range []struct {
		name string
		v    *Properties
	}{{"tags", x.tags}, {"desired", x.desired}, {"reported", x.reported}} {
		m := map[string]any(*s.v)
		if !isNormal(m) {
			n, err := normalize("", m)
			if err != nil {
				p.add(dev, mod, id, "%s: %v", s.name, err)
				continue
			}
			m = n.(map[string]any)
		}
		ok[s.name] = true
		for k := range m {
			if strings.HasPrefix(k, "$") {
				p.add(dev, mod, id, "%s: property names must not contain '$' (%q)", s.name, k)
				ok[s.name] = false
			}
		}
		if len(m) == 0 {
			m = nil
		}
		*s.v = m
	}
	at := time.Unix(0, 0).UTC()
	*x.built = nil
	if ok["tags"] && ok["desired"] && ok["reported"] {
		// The twin CreateMany would build, kept for it (it restamps it).
		if t, err := twin.Build(at, *x.tags, *x.desired, *x.reported); err == nil {
			*x.built = t
			return
		}
	}
	// Checked again section by section, for every problem and in order.
	t := twin.New(at)
	u := twin.ServiceUpdate{Tags: orEmpty(*x.tags), Desired: orEmpty(*x.desired), HasTags: ok["tags"], HasDesired: ok["desired"]}
	if u.HasTags || u.HasDesired {
		if _, err := t.Replace(u, at); err != nil {
			p.add(dev, mod, id, "%s", errcode.From(err).Message)
		}
	}
	if !ok["reported"] {
		return
	}
	if _, err := t.PatchedReportedValues(orEmpty(*x.reported), at); err != nil {
		p.add(dev, mod, id, "%s", errcode.From(err).Message)
	}
}

// checkRegistryAccepts runs the registry's own checks over the inputs Apply
// will send, so that no rule of the registry is first met half-way through.
func checkRegistryAccepts(p *problems, i int, dev *Device) {
	if in, err := registry.CheckDeviceInput(dev.ID, deviceInput(dev, nil)); err == nil {
		dev.parsed = &in
	} else {
		p.add(i, -1, dev.ID, "%s", errcode.From(err).Message)
	}
	for j := range dev.Modules {
		m := &dev.Modules[j]
		if in, err := registry.CheckModuleInput(dev.ID, m.ID, moduleInput(dev.ID, m, nil)); err == nil {
			m.parsed = &in
		} else {
			p.add(i, j, m.ID, "%s", errcode.From(err).Message)
		}
	}
}

func orEmpty(p Properties) map[string]any {
	if p == nil {
		return map[string]any{}
	}
	return p
}
