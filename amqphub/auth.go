package amqphub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// claim is one SAS token a connection presented (by CBS or SASL PLAIN).
// Links are authorised against it when they attach, as IoT Hub does; a
// claim that expires stops covering new links.
type claim struct {
	token   string
	expires time.Time
}

// claimsKey keys a connection's []claim in its ConnInfo.
type claimsKey struct{}

func claims(c *amqp.ConnInfo) []claim {
	v, _ := c.Value(claimsKey{}).([]claim)
	return v
}

// allClaims are the connection's $cbs claims and the one SASL PLAIN carried.
func allClaims(c *amqp.ConnInfo) []claim {
	all := claims(c)
	if cl, ok := c.Principal().(claim); ok {
		all = append(all[:len(all):len(all)], cl) // never into the stored slice
	}
	return all
}

// accepted reports whether a claim that has not expired passes check; if
// none does, last is why the last one failed (nil without claims).
func accepted(all []claim, now time.Time, check func(token string) error) (last error, ok bool) {
	for _, cl := range all {
		if !now.Before(cl.expires) {
			last = errcode.New(errcode.IotHubUnauthorized, "The token for this connection expired at %s.", cl.expires.UTC().Format(time.RFC3339))
			continue
		}
		if last = check(cl.token); last == nil {
			return nil, true
		}
	}
	return last, false
}

// addClaim records a verified token, replacing one for the same audience
// (clients renew tokens before they expire).
func addClaim(c *amqp.ConnInfo, token string, expires time.Time, resource string) {
	c.Update(claimsKey{}, func(old any) any {
		cur, _ := old.([]claim)
		next := make([]claim, 0, len(cur)+1)
		for _, cl := range cur {
			if tok, err := sas.ParseToken(cl.token); err == nil && strings.EqualFold(tok.Resource, resource) {
				continue
			}
			next = append(next, cl)
		}
		return append(next, claim{token: token, expires: expires})
	})
}

// resourcePath is the path part of a token's resource, as the hub's
// authorisation reads it: "host/a/b" → "/a/b".
func resourcePath(tok sas.Token) string {
	_, p, _ := strings.Cut(strings.TrimSuffix(tok.Resource, "/"), "/")
	return "/" + p
}

// verifyToken checks a service token as REST does (signature, expiry, host,
// a policy granting ServiceConnect) for the resource it names.
func (s *Server) verifyToken(token string) (sas.Token, error) {
	tok, err := sas.ParseToken(token)
	if err != nil {
		return sas.Token{}, errcode.New(errcode.IotHubUnauthorized, "The SharedAccessSignature is malformed: %v", err)
	}
	if err := s.hub.AuthorizeAMQP(token, resourcePath(tok), registry.ServiceConnect); err != nil {
		return sas.Token{}, err
	}
	return tok, nil
}

// verifyClaim checks a token a client puts on $cbs or sends as its SASL
// PLAIN password: a service token as REST checks it, else a device or
// module token as MQTT checks one, for the identity its resource names or,
// for a policy token scoped to the hub, the one the audience names (Java
// puts {host}/devices/{id}). Links are checked again when they attach.
func (s *Server) verifyClaim(token, audience string) (sas.Token, error) {
	tok, err := s.verifyToken(token)
	if err == nil {
		return tok, nil
	}
	parsed, perr := sas.ParseToken(token)
	if perr != nil {
		return sas.Token{}, err
	}
	id, ok := tokenIdentity(resourcePath(parsed))
	if !ok && audience != "" {
		id, ok = tokenIdentity(linkPath(audience))
	}
	if !ok {
		return sas.Token{}, err
	}
	if _, derr := s.hub.AuthenticateDevice(id.deviceID, id.moduleID, token); derr != nil {
		return sas.Token{}, derr
	}
	return parsed, nil
}

// tokenIdentity reads the identity a token resource path names:
// /devices/{id} or /devices/{id}/modules/{mid}.
func tokenIdentity(path string) (identity, bool) {
	id, rest, ok := identityPath(path)
	return id, ok && len(rest) == 0
}

// authorize checks that one of the connection's claims covers the link
// path and grants ServiceConnect.
func (s *Server) authorize(c *amqp.ConnInfo, path string) *amqp.Error {
	last, ok := accepted(allClaims(c), s.now(), func(token string) error {
		return s.hub.AuthorizeAMQP(token, path, registry.ServiceConnect)
	})
	if ok {
		return nil
	}
	if last == nil {
		last = errcode.New(errcode.IotHubUnauthorized, "No token covers %s: put one on $cbs first, or authenticate with SASL PLAIN.", path)
	}
	return &amqp.Error{Condition: amqp.CondUnauthorizedAccess, Description: errcode.From(last).AMQPDescription()}
}

// authenticate is the SASL step. ANONYMOUS and MSSBCBS carry no
// credentials (the client then uses $cbs); PLAIN carries a policy name as
// "{policy}@sas.root.{hub}" (or the bare policy name) and, as password,
// a SAS token or the policy's key, or a device as "{deviceId}@sas.{hub}"
// and its SAS token. EXTERNAL is a TLS client certificate, checked when
// device links attach.
func (s *Server) authenticate(_ context.Context, mech amqp.Symbol, resp []byte, _ string) (any, error) {
	switch mech {
	case amqp.SASLAnonymous, amqp.SASLMSSBCBS, amqp.SASLExternal:
		return nil, nil
	case amqp.SASLPlain:
		_, user, password, err := amqp.ParsePlain(resp)
		if err != nil {
			return nil, err
		}
		return s.plainClaim(user, password)
	}
	return nil, fmt.Errorf("amqphub: SASL mechanism %s is not offered", mech)
}

// plainClaim turns SASL PLAIN credentials into a claim, kept as the
// connection's principal.
func (s *Server) plainClaim(user, password string) (claim, error) {
	policy, _, _ := strings.Cut(user, "@")
	if strings.HasPrefix(password, "SharedAccessSignature ") {
		tok, err := s.verifyClaim(password, "")
		if err != nil {
			return claim{}, err
		}
		policyUser := !strings.Contains(user, "@") || strings.Contains(strings.ToLower(user), "@sas.root.")
		if policyUser && tok.KeyName != "" && !strings.EqualFold(tok.KeyName, policy) {
			return claim{}, errors.New("amqphub: the token is signed by another policy than the SASL user names")
		}
		return claim{token: password, expires: tok.ExpiresAt()}, nil
	}
	p, ok := s.hub.Policies().Find(policy)
	if !ok || (password != p.PrimaryKey && password != p.SecondaryKey) {
		return claim{}, errors.New("amqphub: unknown policy or wrong key")
	}
	expires := s.now().Add(plainKeyClaimLifetime)
	token, err := sas.NewToken(s.hub.HostName(), password, p.Name, expires)
	if err != nil {
		return claim{}, err
	}
	return claim{token: token, expires: expires}, nil
}

// plainKeyClaimLifetime is how long a connection authenticated with a
// policy key may attach links: a day, as a token would be renewed.
const plainKeyClaimLifetime = 24 * time.Hour

// cbsPutToken answers a $cbs put-token request: the body is the token,
// application property name its audience.
func (s *Server) cbsPutToken(_ context.Context, c *amqp.ConnInfo, req *amqp.Message) *amqp.Message {
	if op, _ := req.ApplicationProperties["operation"].(string); op != "put-token" {
		return statusReply(400, fmt.Sprintf("unsupported $cbs operation %q", op))
	}
	token, ok := messageText(req)
	if !ok {
		return statusReply(400, "the put-token body is not a token string")
	}
	audience, _ := req.ApplicationProperties["name"].(string)
	tok, err := s.verifyClaim(token, audience)
	if err != nil {
		e := errcode.From(err)
		return statusReply(e.Code.HTTPStatus(), e.AMQPDescription())
	}
	addClaim(c, token, tok.ExpiresAt(), tok.Resource)
	return statusReply(200, "OK")
}

// statusReply is a request/response reply ($cbs, $management) carrying
// the status the clients check.
func statusReply(status int, description string) *amqp.Message {
	return &amqp.Message{ApplicationProperties: map[string]any{
		"status-code":        int32(status),
		"status-description": description,
	}}
}

// messageText is the message's body as text: an amqp-value string, or
// data sections (UTF-8).
func messageText(m *amqp.Message) (string, bool) {
	switch v := m.Value.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	if len(m.Data) > 0 {
		return string(messageBody(m)), true
	}
	return "", false
}

// messageBody is the concatenation of the data sections, or a binary or
// string amqp-value.
func messageBody(m *amqp.Message) []byte {
	switch v := m.Value.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	if len(m.Data) == 1 {
		return m.Data[0]
	}
	var out []byte
	for _, d := range m.Data {
		out = append(out, d...)
	}
	return out
}
