package seed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Formats a document can be written in.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// Document is a seed document: the identities of a hub with their twins.
//
// Parse and Export return documents in canonical form: status and auth are
// spelled out ("enabled", "sas", ...), empty sections are nil, object
// members that are null are gone and every number is a float64. Marshal
// leaves the defaults (status enabled, auth sas, edge false) out again, so
// what people read stays short.
type Document struct {
	// Hub is reserved for hub-wide settings; it must be empty.
	Hub     Hub      `json:"hub" yaml:"hub"`
	Devices []Device `json:"devices" yaml:"devices"`
	// X509CAs are PEM texts of CA certificates the hub trusts beside the
	// ones it was started with (see provisioning.go).
	X509CAs []string `json:"x509CAs,omitempty" yaml:"x509CAs,omitempty"`
	// EnrollmentGroups and Enrollments are the Device Provisioning
	// Service's, in its JSON shape.
	EnrollmentGroups []Properties `json:"enrollmentGroups,omitempty" yaml:"enrollmentGroups,omitempty"`
	Enrollments      []Properties `json:"enrollments,omitempty" yaml:"enrollments,omitempty"`
}

// Hub is reserved for hub-wide settings; it has none yet.
type Hub struct{}

// Device is one device identity with its twin and its modules.
type Device struct {
	ID string `json:"id" yaml:"id"`
	// Status is "enabled" (the default) or "disabled".
	Status string `json:"status,omitempty" yaml:"status,omitempty"`
	// Edge marks an IoT Edge device.
	Edge bool `json:"edge,omitempty" yaml:"edge,omitempty"`
	// Auth is the authentication type: "sas" (the default), "selfSigned",
	// "certificateAuthority" or "none".
	Auth string `json:"auth,omitempty" yaml:"auth,omitempty"`
	// Keys are the symmetric keys of a sas identity; a key left out is
	// generated when the identity is created and kept afterwards.
	Keys *Keys `json:"keys,omitempty" yaml:"keys,omitempty"`
	// Thumbprints are the certificate thumbprints of a selfSigned identity.
	Thumbprints *Thumbprints `json:"thumbprints,omitempty" yaml:"thumbprints,omitempty"`
	Tags        Properties   `json:"tags,omitempty" yaml:"tags,omitempty"`
	Desired     Properties   `json:"desired,omitempty" yaml:"desired,omitempty"`
	// Reported are the reported properties, as if the device had sent them.
	Reported Properties `json:"reported,omitempty" yaml:"reported,omitempty"`
	Modules  []Module   `json:"modules,omitempty" yaml:"modules,omitempty"`

	built    *twin.Twin  // the twin prepare checked the sections with
	sections rawSections // the sections as the scanner passed over them
	// parsed is the identity as prepare checked it with the registry's
	// rules, so that creating the device does not do it again.
	parsed *registry.DeviceInput
}

// Module is one module identity of a device, with its twin.
type Module struct {
	ID          string       `json:"id" yaml:"id"`
	Auth        string       `json:"auth,omitempty" yaml:"auth,omitempty"`
	Keys        *Keys        `json:"keys,omitempty" yaml:"keys,omitempty"`
	Thumbprints *Thumbprints `json:"thumbprints,omitempty" yaml:"thumbprints,omitempty"`
	Tags        Properties   `json:"tags,omitempty" yaml:"tags,omitempty"`
	Desired     Properties   `json:"desired,omitempty" yaml:"desired,omitempty"`
	Reported    Properties   `json:"reported,omitempty" yaml:"reported,omitempty"`

	built    *twin.Twin            // the twin prepare checked the sections with
	sections rawSections           // the sections as the scanner passed over them
	parsed   *registry.ModuleInput // the identity prepare checked, as Device's
}

// Keys are an identity's symmetric keys, base64 of 16 to 64 bytes.
type Keys struct {
	Primary   string `json:"primary,omitempty" yaml:"primary,omitempty"`
	Secondary string `json:"secondary,omitempty" yaml:"secondary,omitempty"`
}

// Thumbprints are an identity's X.509 certificate thumbprints.
type Thumbprints struct {
	Primary   string `json:"primary,omitempty" yaml:"primary,omitempty"`
	Secondary string `json:"secondary,omitempty" yaml:"secondary,omitempty"`
}

// Properties is a twin section (tags, desired or reported properties) as
// JSON values: map[string]any, []any, string, float64, bool and nil.
type Properties map[string]any

// identity is what devices and modules have in common, so that validation
// and apply treat both alike.
type identity struct {
	auth        *string
	keys        *Keys
	thumbprints *Thumbprints
	tags        *Properties
	desired     *Properties
	reported    *Properties
	built       **twin.Twin
}

func (d *Device) identity() identity {
	return identity{&d.Auth, d.Keys, d.Thumbprints, &d.Tags, &d.Desired, &d.Reported, &d.built}
}

func (m *Module) identity() identity {
	return identity{&m.Auth, m.Keys, m.Thumbprints, &m.Tags, &m.Desired, &m.Reported, &m.built}
}

// Marshal writes the document as "yaml" (also for "") or "json".
func (d *Document) Marshal(format string) ([]byte, error) {
	c := d.compact()
	switch strings.ToLower(format) {
	case "", FormatYAML:
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(c); err != nil {
			return nil, fmt.Errorf("encode yaml: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("encode yaml: %w", err)
		}
		return buf.Bytes(), nil
	case FormatJSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			return nil, fmt.Errorf("encode json: %w", err)
		}
		return buf.Bytes(), nil
	default:
		return nil, badFormat(format)
	}
}

func badFormat(format string) error {
	return errcode.New(errcode.ArgumentInvalid, "format must be %q or %q, not %q.", FormatYAML, FormatJSON, format)
}

// compact returns a copy without the values that are defaults, and with
// devices always a list, so an empty hub reads "devices: []".
func (d *Document) compact() *Document {
	c := &Document{Devices: make([]Device, len(d.Devices)), X509CAs: d.X509CAs, EnrollmentGroups: d.EnrollmentGroups, Enrollments: d.Enrollments}
	for i, dev := range d.Devices {
		if dev.Status == registry.StatusEnabled {
			dev.Status = ""
		}
		if dev.Auth == registry.AuthSAS {
			dev.Auth = ""
		}
		if len(dev.Modules) > 0 {
			mods := make([]Module, len(dev.Modules))
			for j, m := range dev.Modules {
				if m.Auth == registry.AuthSAS {
					m.Auth = ""
				}
				mods[j] = m
			}
			dev.Modules = mods
		}
		c.Devices[i] = dev
	}
	return c
}
