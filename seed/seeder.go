package seed

import (
	"context"
	"mime"
	"strings"
	"sync"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// Seeder imports seed documents into one hub and exports the hub as one,
// for the REST endpoints. Imports run one at a time, so two documents never
// interleave.
type Seeder struct {
	hub       *hub.Hub
	prov      *dps.Service // nil: documents with enrollments are refused
	importing sync.Mutex
}

// Option configures a Seeder.
type Option func(*Seeder)

// WithProvisioning makes the Seeder import and export the enrollments of
// the hub's Device Provisioning Service too.
func WithProvisioning(p *dps.Service) Option { return func(s *Seeder) { s.prov = p } }

// NewSeeder returns a Seeder for h.
func NewSeeder(h *hub.Hub, opts ...Option) *Seeder {
	s := &Seeder{hub: h}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Import parses data as format (FormatYAML, FormatJSON, or "" to tell from
// the content) and applies it to the hub.
func (s *Seeder) Import(ctx context.Context, data []byte, format string) (Result, error) {
	d, err := Parse(data, format)
	if err != nil {
		return Result{}, err
	}
	s.importing.Lock()
	defer s.importing.Unlock()
	return applyPrepared(ctx, s.hub, s.prov, d) // Parse has prepared it
}

// Export writes the hub as a document in format (yaml or json, in any
// case; "" means yaml) and returns it with its media type. An unknown
// format is refused with ArgumentInvalid.
func (s *Seeder) Export(ctx context.Context, format string) (body []byte, mediaType string, err error) {
	format = strings.ToLower(format)
	if format == "" {
		format = FormatYAML
	}
	if format != FormatYAML && format != FormatJSON {
		return nil, "", badFormat(format)
	}
	d, err := ExportWithProvisioning(ctx, s.hub, s.prov)
	if err != nil {
		return nil, "", err
	}
	body, err = d.Marshal(format)
	if err != nil {
		return nil, "", errcode.Wrap(errcode.ServerError, err, "The hub could not be written as %s.", format)
	}
	mediaType = "application/yaml; charset=utf-8"
	if format == FormatJSON {
		mediaType = "application/json; charset=utf-8"
	}
	return body, mediaType, nil
}

// FormatOf maps a Content-Type to a document format: FormatJSON for
// application/json and text/json, FormatYAML for application/yaml,
// application/x-yaml, text/yaml and text/x-yaml, else "" (tell from the
// content).
func FormatOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case "application/json", "text/json":
		return FormatJSON
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return FormatYAML
	default:
		return ""
	}
}
