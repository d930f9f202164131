package hub

import (
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func unauthorized(format string, args ...any) error {
	return errcode.New(errcode.IotHubUnauthorized, format, args...)
}

// AuthorizeService checks a REST Authorization header: a SAS token signed
// with a shared access policy that has at least one of the rights in need.
func (h *Hub) AuthorizeService(header string, need registry.Permission) error {
	if header == "" {
		return unauthorized("The request has no Authorization header; a SharedAccessSignature is required.")
	}
	tok, err := sas.ParseToken(header)
	if err != nil {
		return unauthorized("The SharedAccessSignature is malformed: %v", err)
	}
	if err := h.checkToken(tok); err != nil {
		return err
	}
	if tok.KeyName == "" {
		return unauthorized("The SharedAccessSignature has no skn; service calls must be signed with a shared access policy.")
	}
	p, ok := h.policies.Find(tok.KeyName)
	if !ok || !(tok.VerifyKey(p.PrimaryKey) || tok.VerifyKey(p.SecondaryKey)) {
		return unauthorized("The SharedAccessSignature for policy '%s' is not valid.", tok.KeyName)
	}
	if p.Rights&need == 0 {
		return unauthorized("Policy '%s' does not grant %s, which this operation needs.", p.Name, need)
	}
	return nil
}

func (h *Hub) checkToken(tok sas.Token) error {
	if tok.Expired(h.now()) {
		return unauthorized("The SharedAccessSignature expired at %s.", tok.ExpiresAt().UTC().Format(time.RFC3339))
	}
	host, _, _ := strings.Cut(tok.Resource, "/")
	if !h.hostAccepted(host) {
		return unauthorized("The SharedAccessSignature is for host '%s', not this hub.", host)
	}
	return nil
}

// AuthenticateDevice checks the SAS token a device (or module) presents on
// connect and returns when it expires. It accepts a token signed with the
// identity's own key, or with a policy that grants DeviceConnect.
func (h *Hub) AuthenticateDevice(deviceID, moduleID, password string) (time.Time, error) {
	if moduleID != "" {
		return time.Time{}, unauthorized("Module identities are not supported yet.")
	}
	tok, err := sas.ParseToken(password)
	if err != nil {
		return time.Time{}, unauthorized("The SharedAccessSignature is malformed: %v", err)
	}
	if err := h.checkToken(tok); err != nil {
		return time.Time{}, err
	}
	host, _, _ := strings.Cut(tok.Resource, "/")
	if !tok.Covers(host + "/devices/" + deviceID) {
		return time.Time{}, unauthorized("The SharedAccessSignature does not cover device '%s'.", deviceID)
	}
	e := h.get(deviceID)
	if e == nil {
		return time.Time{}, deviceNotFound(deviceID)
	}
	d := e.record.Device
	if d.Status != registry.StatusEnabled {
		return time.Time{}, unauthorized("Device '%s' is disabled.", deviceID)
	}
	if tok.KeyName != "" {
		p, ok := h.policies.Find(tok.KeyName)
		if !ok || !(tok.VerifyKey(p.PrimaryKey) || tok.VerifyKey(p.SecondaryKey)) {
			return time.Time{}, unauthorized("The SharedAccessSignature for policy '%s' is not valid.", tok.KeyName)
		}
		if p.Rights&registry.DeviceConnect == 0 {
			return time.Time{}, unauthorized("Policy '%s' does not grant DeviceConnect.", p.Name)
		}
		return tok.ExpiresAt(), nil
	}
	k := d.Authentication.SymmetricKey
	if d.Authentication.Type != registry.AuthSAS || k == nil {
		return time.Time{}, unauthorized("Device '%s' does not use symmetric keys.", deviceID)
	}
	if !tok.VerifyKey(k.PrimaryKey) && !tok.VerifyKey(k.SecondaryKey) {
		return time.Time{}, unauthorized("The SharedAccessSignature for device '%s' is not valid.", deviceID)
	}
	return tok.ExpiresAt(), nil
}
