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

// AuthorizeService checks a REST Authorization header for a request to
// path: a SAS token signed with a shared access policy that has at least one
// of the rights in need, whose resource covers the path (a token for the
// hub covers every path; one for host/devices/d1 only paths under it).
func (h *Hub) AuthorizeService(header, path string, need registry.Permission) error {
	return h.authorizeService(header, path, need, sas.Token.VerifyKey, sas.Token.Covers)
}

// AuthorizeAMQP is AuthorizeService for tokens AMQP clients present (CBS,
// SASL PLAIN): those of the Event Hubs SDKs are signed with the policy
// key's text rather than its decoded bytes (sas.Token.VerifyKeyText), and
// their audiences are lowercased (sas.Token.CoversFold); both forms are
// accepted.
func (h *Hub) AuthorizeAMQP(token, path string, need registry.Permission) error {
	return h.authorizeService(token, path, need, func(t sas.Token, key string) bool {
		return t.VerifyKey(key) || t.VerifyKeyText(key)
	}, sas.Token.CoversFold)
}

func (h *Hub) authorizeService(header, path string, need registry.Permission,
	verify func(sas.Token, string) bool, covers func(sas.Token, string) bool) error {
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
	host, _, _ := strings.Cut(tok.Resource, "/")
	if !covers(tok, host+"/"+strings.TrimPrefix(path, "/")) {
		return unauthorized("The SharedAccessSignature for '%s' does not cover %s.", tok.Resource, path)
	}
	if tok.KeyName == "" {
		return unauthorized("The SharedAccessSignature has no skn; service calls must be signed with a shared access policy.")
	}
	p, ok := h.policies.Find(tok.KeyName)
	if !ok || !(verify(tok, p.PrimaryKey) || verify(tok, p.SecondaryKey)) {
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

// AuthenticateDevice checks the SAS token a device or module presents on
// connect and returns when it expires. It accepts a token signed with the
// identity's own key, or with a policy that grants DeviceConnect.
func (h *Hub) AuthenticateDevice(deviceID, moduleID, password string) (time.Time, error) {
	tok, err := sas.ParseToken(password)
	if err != nil {
		return time.Time{}, unauthorized("The SharedAccessSignature is malformed: %v", err)
	}
	if err := h.checkToken(tok); err != nil {
		return time.Time{}, err
	}
	host, _, _ := strings.Cut(tok.Resource, "/")
	resource := host + "/devices/" + deviceID
	if moduleID != "" {
		resource += "/modules/" + moduleID
	}
	if !tok.Covers(resource) {
		return time.Time{}, unauthorized("The SharedAccessSignature does not cover '%s'.", resource)
	}
	auth, err := h.connectingAuth(deviceID, moduleID)
	if err != nil {
		return time.Time{}, err
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
	if auth.Type == registry.AuthSelfSigned || auth.Type == registry.AuthCertificateAuthority {
		return time.Time{}, unauthorized("'%s' uses X.509 authentication (%s): it connects with its client certificate, not a SAS token.", resource, auth.Type)
	}
	k := auth.SymmetricKey
	if auth.Type != registry.AuthSAS || k == nil {
		return time.Time{}, unauthorized("'%s' does not use symmetric keys.", resource)
	}
	if !tok.VerifyKey(k.PrimaryKey) && !tok.VerifyKey(k.SecondaryKey) {
		return time.Time{}, unauthorized("The SharedAccessSignature for '%s' is not valid.", resource)
	}
	return tok.ExpiresAt(), nil
}
