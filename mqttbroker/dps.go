package mqttbroker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Provisioning is the Device Provisioning Service the broker serves DPS
// clients for: devices that connect with the username
// "{idScope}/registrations/{registrationId}/api-version=..." to register.
type Provisioning interface {
	Authenticate(idScope, registrationID string, c dps.Credential) error
	Register(ctx context.Context, idScope, registrationID string, c dps.Credential, body []byte) (dps.Operation, error)
	OperationStatus(idScope, registrationID, operationID string, c dps.Credential) (dps.Operation, error)
}

// DPS topics (the service's MQTT API). A client subscribes to the response
// filter and publishes its requests with a request id ($rid) that the
// response carries back.
const (
	dpsResponseFilter = "$dps/registrations/res/#"
	dpsRegisterTopic  = "$dps/registrations/PUT/iotdps-register/"
	dpsStatusTopic    = "$dps/registrations/GET/iotdps-get-operationstatus/"
)

// dpsRetryAfter is the retry-after, in seconds, of a 202 answer: none is
// needed, as the assignment is done by then (registration is
// synchronous). Node polls at once; Python waits its fixed 2 s after a
// register regardless.
const dpsRetryAfter = 0

// dpsClientPrefix keeps DPS clients out of the hub clients' id space in
// mochi: a registration id is often also a device id, and a device's
// provisioning connection must neither take over nor inherit its hub
// session. No device id contains a space.
const dpsClientPrefix = "dps "

// dpsSession is one authenticated DPS connection. Its requests are
// answered on the connection's own goroutine, in order.
type dpsSession struct {
	scope, registrationID string
	cred                  dps.Credential
	cl                    *mqtt.Client
	log                   *slog.Logger
}

func dpsSessionOf(cl *mqtt.Client) *dpsSession {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		return tc.dps.Load()
	}
	return nil
}

// parseDPSUsername splits "{idScope}/registrations/{registrationId}/api-version=...".
func parseDPSUsername(username, clientID string) (scope, registrationID string, ok bool) {
	if !isDPSUsername(username, clientID) {
		return "", "", false
	}
	scope, _, _ = strings.Cut(username, "/")
	return scope, clientID, true
}

// dpsConnect prepares a DPS CONNECT (OnConnect): with no provisioning
// service it is refused as unsupported; otherwise the client gets its own
// id space in mochi (dpsClientPrefix).
func (b *Broker) dpsConnect(cl *mqtt.Client, pk packets.Packet) (isDPS bool, err error) {
	if !isDPSUsername(string(pk.Connect.Username), pk.Connect.ClientIdentifier) {
		return false, nil
	}
	if b.prov == nil {
		return true, b.refuseDPS(cl, pk)
	}
	cl.ID = dpsClientPrefix + pk.Connect.ClientIdentifier
	return true, nil
}

// authenticateDPS authenticates a DPS CONNECT (OnConnectAuthenticate): a
// SAS token as password, or else the TLS client certificate.
func (b *Broker) authenticateDPS(cl *mqtt.Client, tc *trackedConn, pk packets.Packet) bool {
	scope, regID, _ := parseDPSUsername(string(pk.Connect.Username), pk.Connect.ClientIdentifier)
	log := b.log.With("registration", regID, "id_scope", scope, "remote", cl.Net.Remote, "listener", cl.Net.Listener)
	var cred dps.Credential
	kind := "sas"
	if len(pk.Connect.Password) > 0 {
		cred.Token = string(pk.Connect.Password)
	} else {
		cred.Chain = peerCertificates(cl.Net.Conn)
		kind = "x509"
	}
	if err := b.prov.Authenticate(scope, regID, cred); err != nil {
		log.Warn("dps connection refused: not authorized", "reason", errcode.From(err).Message, "credential", kind)
		return false
	}
	tc.dps.Store(&dpsSession{scope: scope, registrationID: regID, cred: cred, cl: cl, log: log})
	log.Info("dps connected", "credential", kind)
	return true
}

// dpsTopicAllowed reports whether a DPS client may publish to topic.
func dpsTopicAllowed(topic string) bool {
	return strings.HasPrefix(topic, dpsRegisterTopic+"?") || strings.HasPrefix(topic, dpsStatusTopic+"?")
}

// dpsRequest is a parsed request topic.
type dpsRequest struct {
	register    bool
	rid         string
	operationID string
}

var errDPSTopic = errors.New("not a DPS request topic with a $rid")

func parseDPSTopic(topic string) (dpsRequest, error) {
	var r dpsRequest
	var query string
	switch {
	case strings.HasPrefix(topic, dpsRegisterTopic+"?"):
		r.register, query = true, topic[len(dpsRegisterTopic)+1:]
	case strings.HasPrefix(topic, dpsStatusTopic+"?"):
		query = topic[len(dpsStatusTopic)+1:]
	default:
		return r, errDPSTopic
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return r, errDPSTopic
	}
	r.rid, r.operationID = v.Get("$rid"), v.Get("operationId")
	if r.rid == "" || (!r.register && r.operationID == "") {
		return r, errDPSTopic
	}
	return r, nil
}

// dpsResponseTopic is "$dps/registrations/res/{status}/?$rid={rid}", with
// the retry-after of a 202 (and of a throttled request).
func dpsResponseTopic(status int, rid string) string {
	t := "$dps/registrations/res/" + strconv.Itoa(status) + "/?$rid=" + url.QueryEscape(rid)
	if status == 202 || status == 429 {
		t += "&retry-after=" + strconv.Itoa(dpsRetryAfter)
	}
	return t
}

// dpsServe answers one DPS request (OnPublished, after its PUBACK).
func (b *Broker) dpsServe(d *dpsSession, topic string, payload []byte) {
	req, err := parseDPSTopic(topic)
	if err != nil {
		d.log.Info("closing dps connection: publish refused", "topic", topic, "reason", err.Error())
		d.cl.Stop(errRejectedPublish)
		return
	}
	var op dps.Operation
	if req.register {
		ctx, cancel := b.hubContext()
		op, err = b.prov.Register(ctx, d.scope, d.registrationID, d.cred, payload)
		cancel()
	} else {
		op, err = b.prov.OperationStatus(d.scope, d.registrationID, req.operationID, d.cred)
	}
	var status int
	var body []byte
	if err != nil {
		e := errcode.From(err)
		status, body = e.Code.HTTPStatus(), e.ProvisioningBody(b.now())
		d.log.Info("dps request refused", "register", req.register, "rid", req.rid, "status", status, "reason", e.Message)
	} else {
		status = 200
		if op.Status == dps.RegAssigning {
			status = 202
		}
		body, err = json.Marshal(op)
		if err != nil {
			d.log.Warn("dps response not encoded", "error", err)
			return
		}
		d.log.Debug("dps request", "register", req.register, "rid", req.rid, "status", status, "operation_status", op.Status)
	}
	if err := d.cl.WritePacket(publishPacket(dpsResponseTopic(status, req.rid), body)); err != nil {
		d.log.Debug("dps write failed", "error", err)
		d.cl.Stop(err)
	}
}

// dpsFinish drops mochi's record of an ended DPS client, which has
// nothing to resume: DPS keeps no sessions.
func (b *Broker) dpsFinish(tc *trackedConn) {
	d := tc.dps.Load()
	if d == nil {
		return
	}
	if cur, ok := b.server.Clients.Get(d.cl.ID); ok && cur == d.cl {
		b.server.UnsubscribeClient(cur)
		cur.ClearInflights()
		b.server.Clients.Delete(d.cl.ID)
	}
}
