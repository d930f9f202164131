package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// dpsClient is a device talking to the provisioning service over MQTT, as
// the SDKs do.
type dpsClient struct {
	c   paho.Client
	got chan paho.Message
}

// dialDPS connects registrationID to the provisioning service over 8883
// ("ssl") or MQTT over WebSockets ("wss"), with a SAS token (key != "")
// or a client certificate.
func dialDPS(t *testing.T, e *Emulator, scheme, scope, registrationID, key string, cert *testkit.Cert) (*dpsClient, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	addr := "ssl://" + e.Addr(MQTTS)
	if scheme == "wss" {
		addr = "wss://" + e.Addr(HTTPS) + WebSocketPath
	}
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		tlsConfig.Certificates = []tls.Certificate{cert.TLS()}
	}
	d := &dpsClient{got: make(chan paho.Message, 8)}
	opts := paho.NewClientOptions().AddBroker(addr).SetTLSConfig(tlsConfig).
		SetClientID(registrationID).
		SetUsername(scope + "/registrations/" + registrationID + "/api-version=2019-03-31&ClientVersion=test").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { d.got <- m })
	if key != "" {
		tok, err := sas.NewToken(scope+"/registrations/"+registrationID, key, "registration", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		opts.SetPassword(tok)
	}
	d.c = paho.NewClient(opts)
	tk := d.c.Connect()
	if !tk.WaitTimeout(wait) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tk.Error() != nil {
		return nil, tk.Error()
	}
	t.Cleanup(func() { d.c.Disconnect(50) })
	if tk := d.c.Subscribe("$dps/registrations/res/#", 1, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	return d, nil
}

// request publishes to topic and returns the response's status and body.
func (d *dpsClient) request(t *testing.T, topic, body string) (status string, rid string, answer map[string]any) {
	t.Helper()
	if tk := d.c.Publish(topic, 1, false, body); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tk.Error())
	}
	select {
	case m := <-d.got:
		rest := strings.TrimPrefix(m.Topic(), "$dps/registrations/res/")
		status, query, _ := strings.Cut(rest, "/?")
		if err := json.Unmarshal(m.Payload(), &answer); err != nil {
			t.Fatalf("answer on %s is not JSON: %q", m.Topic(), m.Payload())
		}
		return status, query, answer
	case <-time.After(wait):
		t.Fatalf("no answer to %s", topic)
	}
	return "", "", nil
}

// register runs the SDKs' register-then-poll exchange and returns the
// final operation.
func (d *dpsClient) register(t *testing.T, registrationID, payload string) map[string]any {
	t.Helper()
	body := `{"registrationId":"` + registrationID + `"`
	if payload != "" {
		body += `,"payload":` + payload
	}
	body += "}"
	status, query, op := d.request(t, "$dps/registrations/PUT/iotdps-register/?$rid=1", body)
	if status != "202" || query != "$rid=1&retry-after=0" || op["status"] != "assigning" || op["operationId"] == "" {
		t.Fatalf("register answered %s ?%s %v", status, query, op)
	}
	status, query, op = d.request(t, fmt.Sprintf("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=%s", op["operationId"]), "")
	if status != "200" || query != "$rid=2" {
		t.Fatalf("poll answered %s ?%s %v", status, query, op)
	}
	return op
}

func startDPS(t *testing.T, logs *syncBuffer) *Emulator {
	t.Helper()
	return startX509(t, logs)
}

func TestDPSSymmetricKeyOverMQTTThenConnectToHub(t *testing.T) {
	var logs syncBuffer
	e := startDPS(t, &logs)
	p := e.Provisioning()
	ctx := context.Background()
	enr, err := p.PutEnrollment(ctx, "reg-one", []byte(`{"attestation":{"type":"symmetricKey"},"deviceId":"dev-one",
		"initialTwin":{"tags":{"room":"42"},"properties":{"desired":{"interval":5}}},"capabilities":{"iotEdge":true}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	groupKey := "c2VjcmV0LWdyb3VwLWtleS0xMjM0NTY3ODkwMTIzNDU2"
	if _, err := p.PutEnrollmentGroup(ctx, "fleet", []byte(`{"attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"`+groupKey+`","secondaryKey":"`+groupKey+`"}}}`), ""); err != nil {
		t.Fatal(err)
	}
	derived, err := dps.DeviceKey(groupKey, "member-7")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, scheme, regID, key, device string
	}{
		{"individual over mqtts", "ssl", "reg-one", enr.Attestation.SymmetricKey.PrimaryKey, "dev-one"},
		{"group over websockets", "wss", "member-7", derived, "member-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := dialDPS(t, e, tc.scheme, dps.DefaultIDScope, tc.regID, tc.key, nil)
			if err != nil {
				t.Fatalf("dps connect: %v", err)
			}
			op := d.register(t, tc.regID, `{"modelId":"dtmi:com:example:Thermostat;1"}`)
			st, _ := op["registrationState"].(map[string]any)
			if op["status"] != "assigned" || st["assignedHub"] != e.HostName() || st["deviceId"] != tc.device ||
				st["substatus"] != "initialAssignment" {
				t.Fatalf("operation %v", op)
			}
			if pl, _ := st["payload"].(map[string]any); pl["modelId"] != "dtmi:com:example:Thermostat;1" {
				t.Fatalf("payload not echoed: %v", st["payload"])
			}
			// The device connects to the assigned hub with the same key.
			tok, err := sas.NewToken(e.HostName()+"/devices/"+tc.device, tc.key, "", time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Hub().AuthenticateDevice(tc.device, "", tok); err != nil {
				t.Fatalf("hub refuses the provisioned device: %v", err)
			}
		})
	}
	tw, err := e.Hub().GetTwin(ctx, "dev-one", "")
	if err != nil {
		t.Fatal(err)
	}
	if tags, _ := tw["tags"].(map[string]any); tags["room"] != "42" {
		t.Fatalf("initial twin tags not applied: %v", tw["tags"])
	}
	if dev, _ := e.Hub().GetDevice(ctx, "dev-one"); !dev.Capabilities.IotEdge {
		t.Fatalf("iotEdge capability not applied: %+v", dev.Capabilities)
	}
}

func TestDPSX509OverMQTT(t *testing.T) {
	var logs syncBuffer
	e := startDPS(t, &logs)
	p := e.Provisioning()
	ctx := context.Background()
	self := testkit.NewCert(t, "x509-reg", nil, testkit.CertOptions{})
	root := testkit.NewCert(t, "fleet root", nil, testkit.CertOptions{IsCA: true})
	member := testkit.NewCert(t, "x509-member", root, testkit.CertOptions{})
	pemOf := func(c *testkit.Cert) string {
		b, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})))
		return string(b)
	}
	if _, err := p.PutEnrollment(ctx, "x509-reg", []byte(`{"attestation":{"type":"x509","x509":{"clientCertificates":{"primary":{"certificate":`+pemOf(self)+`}}}}}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PutEnrollmentGroup(ctx, "x509-fleet", []byte(`{"attestation":{"type":"x509","x509":{"signingCertificates":{"primary":{"certificate":`+pemOf(root)+`}}}}}`), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testkit.Cert{self, member} {
		id := c.Cert.Subject.CommonName
		d, err := dialDPS(t, e, "ssl", dps.DefaultIDScope, id, "", c)
		if err != nil {
			t.Fatalf("%s: dps connect: %v", id, err)
		}
		op := d.register(t, id, "")
		if op["status"] != "assigned" {
			t.Fatalf("%s: operation %v", id, op)
		}
		if err := e.Hub().AuthenticateDeviceX509(id, "", []*x509.Certificate{c.Cert}); err != nil {
			t.Fatalf("%s: hub refuses the provisioned device's certificate: %v", id, err)
		}
	}
	// A certificate no enrollment knows is refused at connect.
	stranger := testkit.NewCert(t, "stranger", nil, testkit.CertOptions{})
	if _, err := dialDPS(t, e, "ssl", dps.DefaultIDScope, "stranger", "", stranger); err == nil {
		t.Fatal("unenrolled certificate connected")
	}
}

func TestDPSRefusals(t *testing.T) {
	var logs syncBuffer
	e := startDPS(t, &logs)
	p := e.Provisioning()
	ctx := context.Background()
	enr, err := p.PutEnrollment(ctx, "ref-dev", []byte(`{"attestation":{"type":"symmetricKey"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	key := enr.Attestation.SymmetricKey.PrimaryKey
	if _, err := p.PutEnrollment(ctx, "off-dev", []byte(`{"attestation":{"type":"symmetricKey","symmetricKey":{"primaryKey":"`+key+`","secondaryKey":"`+key+`"}},"provisioningStatus":"disabled"}`), ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, scope, regID, key string }{
		{"wrong key", dps.DefaultIDScope, "ref-dev", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkxMjM0"},
		{"unknown registration", dps.DefaultIDScope, "nobody", key},
		{"wrong scope", "0ne99999999", "ref-dev", key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dialDPS(t, e, "ssl", tc.scope, tc.regID, tc.key, nil); err == nil {
				t.Fatal("connected")
			}
		})
	}
	if !strings.Contains(logs.String(), "dps connection refused: not authorized") {
		t.Fatalf("no log line names the refusal:\n%s", logs.String())
	}

	t.Run("disabled enrollment", func(t *testing.T) {
		d, err := dialDPS(t, e, "ssl", dps.DefaultIDScope, "off-dev", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		op := d.register(t, "off-dev", "")
		if op["status"] != "disabled" {
			t.Fatalf("operation %v", op)
		}
		if _, err := e.Hub().GetDevice(ctx, "off-dev"); err == nil {
			t.Fatal("a disabled enrollment created its device")
		}
	})
	t.Run("malformed request", func(t *testing.T) {
		d, err := dialDPS(t, e, "ssl", dps.DefaultIDScope, "ref-dev", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := d.request(t, "$dps/registrations/PUT/iotdps-register/?$rid=9", `{"registrationId":`)
		if status != "400" || body["errorCode"] != float64(400004) {
			t.Fatalf("answered %s %v", status, body)
		}
		status, _, body = d.request(t, "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=10&operationId=nope", "")
		if status != "404" || body["errorCode"] != float64(404201) {
			t.Fatalf("unknown operation answered %s %v", status, body)
		}
		if _, err := e.Hub().GetDevice(ctx, "ref-dev"); err == nil {
			t.Fatal("a refused request created the device")
		}
	})
}

// A device's provisioning connection shares its id with its hub
// connection, yet neither takes the other over.
func TestDPSConnectionDoesNotTakeOverHubConnection(t *testing.T) {
	var logs syncBuffer
	e := startDPS(t, &logs)
	p := e.Provisioning()
	ctx := context.Background()
	enr, err := p.PutEnrollment(ctx, "twin-dev", []byte(`{"attestation":{"type":"symmetricKey"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	key := enr.Attestation.SymmetricKey.PrimaryKey
	d, err := dialDPS(t, e, "ssl", dps.DefaultIDScope, "twin-dev", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.register(t, "twin-dev", "")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	tok, _ := sas.NewToken(e.HostName()+"/devices/twin-dev", key, "", time.Now().Add(time.Hour))
	got := make(chan paho.Message, 8)
	hubClient := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + e.Addr(MQTTS)).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"}).
		SetClientID("twin-dev").SetUsername("localhost/twin-dev/?api-version=2021-04-12").SetPassword(tok).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m }))
	if tk := hubClient.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("hub connect: %v", tk.Error())
	}
	defer hubClient.Disconnect(50)
	// A second registration while the hub connection is up leaves it up.
	d.register(t, "twin-dev", "")
	getTwin(t, hubClient, got)
	if !d.c.IsConnectionOpen() || !hubClient.IsConnectionOpen() {
		t.Fatal("one connection took the other over")
	}
}
