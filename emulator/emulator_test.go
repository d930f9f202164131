package emulator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

const wait = 5 * time.Second

// start runs an emulator on free loopback ports with its data in dir.
func start(t testing.TB, dir string, inMemory bool) *Emulator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = 0, 0
	cfg.DataDir, cfg.InMemory = dir, inMemory
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// service is a REST client that trusts the emulator's CA and signs with iothubowner.
type service struct {
	t    testing.TB
	e    *Emulator
	http *http.Client
}

func newService(t testing.TB, e *Emulator) *service {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.CAPEM()) {
		t.Fatal("no CA")
	}
	return &service{t: t, e: e, http: &http.Client{Timeout: wait, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
	}}}
}

func (s *service) do(method, path string, body any, out any, headers ...string) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+s.e.Addr(HTTPS)+path+"?api-version=2021-04-12", rd)
	if err != nil {
		s.t.Fatal(err)
	}
	cs, _ := sas.ParseConnectionString(s.e.ConnectionString("iothubowner"))
	tok, _ := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	req.Header.Set("Authorization", tok)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// createDevice creates a device and returns its primary key.
func (s *service) createDevice(id string) string {
	s.t.Helper()
	var d struct {
		Authentication struct {
			SymmetricKey struct{ PrimaryKey string }
		}
	}
	if st := s.do("PUT", "/devices/"+id, map[string]string{"deviceId": id}, &d); st != 200 {
		s.t.Fatalf("create %s: %d", id, st)
	}
	return d.Authentication.SymmetricKey.PrimaryKey
}

func (s *service) twin(id string) map[string]any {
	s.t.Helper()
	var tw map[string]any
	if st := s.do("GET", "/twins/"+id, nil, &tw); st != 200 {
		s.t.Fatalf("get twin %s: %d", id, st)
	}
	return tw
}

// device is an MQTT device client over TLS, recording everything it receives.
type device struct {
	t      testing.TB
	id     string
	client paho.Client
	mu     sync.Mutex
	got    []paho.Message
	lost   chan struct{}
}

func dialDevice(t testing.TB, e *Emulator, id, key string, clean bool) (*device, error) {
	t.Helper()
	return dialIdentity(t, e, id, "", key, clean)
}

// dialIdentity connects as a device (moduleID "") or a module.
func dialIdentity(t testing.TB, e *Emulator, deviceID, moduleID, key string, clean bool) (*device, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	id, resource := deviceID, "localhost/devices/"+deviceID
	if moduleID != "" {
		id, resource = deviceID+"/"+moduleID, resource+"/modules/"+moduleID
	}
	tok, err := sas.NewToken(resource, key, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, id: id, lost: make(chan struct{}, 1)}
	opts := paho.NewClientOptions().
		AddBroker("ssl://" + e.Addr(MQTTS)).
		SetClientID(id).
		SetUsername("localhost/" + id + "/?api-version=2021-04-12").
		SetPassword(tok).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12}).
		SetCleanSession(clean).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			d.mu.Lock()
			d.got = append(d.got, m)
			d.mu.Unlock()
		}).
		SetConnectionLostHandler(func(paho.Client, error) {
			select {
			case d.lost <- struct{}{}:
			default:
			}
		})
	d.client = paho.NewClient(opts)
	tk := d.client.Connect()
	if !tk.WaitTimeout(wait) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tk.Error() != nil {
		return nil, tk.Error()
	}
	t.Cleanup(func() { d.client.Disconnect(50) })
	return d, nil
}

func (d *device) subscribe(filter string) {
	d.t.Helper()
	tk := d.client.Subscribe(filter, 1, nil)
	if !tk.WaitTimeout(wait) || tk.Error() != nil {
		d.t.Fatalf("%s subscribe %s: %v", d.id, filter, tk.Error())
	}
}

func (d *device) publish(topic, payload string) {
	d.t.Helper()
	tk := d.client.Publish(topic, 1, false, payload)
	if !tk.WaitTimeout(wait) {
		d.t.Fatalf("%s publish %s timed out", d.id, topic)
	}
}

// await waits for a message whose topic starts with prefix.
func (d *device) await(prefix string) paho.Message {
	d.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		for i, m := range d.got {
			if strings.HasPrefix(m.Topic(), prefix) {
				d.got = append(d.got[:i], d.got[i+1:]...)
				d.mu.Unlock()
				return m
			}
		}
		d.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	d.t.Fatalf("%s: no message on %s within %v", d.id, prefix, wait)
	return nil
}

// quiet asserts that d has received nothing beyond what it awaited. The
// barrier is a desired patch from the service (twinPath is d's twin): its
// notification is queued for d's connection behind anything queued for it
// before, and written after anything written to it before, so whatever
// else was on its way has arrived by the time it does.
func (d *device) quiet(svc *service, twinPath string) {
	d.t.Helper()
	svc.do("PATCH", twinPath, map[string]any{"properties": map[string]any{"desired": map[string]any{"barrier": d.id}}}, nil)
	if m := d.await("$iothub/twin/PATCH/properties/desired/"); !strings.Contains(string(m.Payload()), `"barrier"`) {
		d.t.Fatalf("%s received an unexpected desired notification %s", d.id, m.Payload())
	}
	if got := d.received(); len(got) != 0 {
		d.t.Fatalf("%s received unexpected messages: %v", d.id, got)
	}
}

func (d *device) received() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, m := range d.got {
		out = append(out, m.Topic())
	}
	return out
}

func TestTwinRoundTripOverTLS(t *testing.T) {
	e := start(t, t.TempDir(), false)
	svc := newService(t, e)
	key := svc.createDevice("myDeviceId")
	if tw := svc.twin("myDeviceId"); tw["connectionState"] != "Disconnected" {
		t.Fatalf("fresh twin: %v", tw)
	}
	d, err := dialDevice(t, e, "myDeviceId", key, false)
	if err != nil {
		t.Fatal(err)
	}
	if tw := svc.twin("myDeviceId"); tw["connectionState"] != "Connected" {
		t.Fatalf("connected twin: %v", tw["connectionState"])
	}
	d.subscribe("$iothub/twin/res/#")
	d.subscribe("$iothub/twin/PATCH/properties/desired/#")

	d.publish("$iothub/twin/GET/?$rid=1", " ")
	m := d.await("$iothub/twin/res/200/?$rid=1")
	var body map[string]map[string]any
	if err := json.Unmarshal(m.Payload(), &body); err != nil || body["desired"]["$version"] != float64(1) || body["reported"]["$version"] != float64(1) {
		t.Fatalf("GET body %s: %v", m.Payload(), err)
	}

	d.publish("$iothub/twin/PATCH/properties/reported/?$rid=2", `{"connectivity":{"type":"cellular"}}`)
	m = d.await("$iothub/twin/res/204/?$rid=2")
	if !strings.Contains(m.Topic(), "$version=2") {
		t.Fatalf("reported response topic %s", m.Topic())
	}
	// Read-your-writes: the query sees the reported change at once.
	var rows []map[string]any
	svc.do("POST", "/devices/query", map[string]string{"query": "SELECT * FROM devices WHERE properties.reported.connectivity.type = 'cellular'"}, &rows)
	if len(rows) != 1 || rows[0]["deviceId"] != "myDeviceId" {
		t.Fatalf("query rows %v", rows)
	}

	// A bad patch gets an error response with errorCode, and changes nothing.
	d.publish("$iothub/twin/PATCH/properties/reported/?$rid=3", `{"bad.key":1}`)
	m = d.await("$iothub/twin/res/400/?$rid=3")
	if !strings.Contains(string(m.Payload()), `"errorCode":400004`) {
		t.Fatalf("error body %s", m.Payload())
	}

	if st := svc.do("PATCH", "/twins/myDeviceId", map[string]any{"properties": map[string]any{"desired": map[string]any{"interval": 5}}}, nil, "If-Match", `"*"`); st != 200 {
		t.Fatalf("patch desired: %d", st)
	}
	m = d.await("$iothub/twin/PATCH/properties/desired/?$version=2")
	var patch map[string]any
	if err := json.Unmarshal(m.Payload(), &patch); err != nil || patch["$version"] != float64(2) || patch["interval"] != float64(5) {
		t.Fatalf("desired notification %s", m.Payload())
	}

	d.client.Disconnect(100)
	testkit.EventuallyWithin(t, wait, "connectionState back to Disconnected", func() bool {
		return svc.twin("myDeviceId")["connectionState"] == "Disconnected"
	})
}

func TestConnectRefusals(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	other := svc.createDevice("d2")
	svc.do("PUT", "/devices/off", map[string]string{"deviceId": "off", "status": "disabled"}, nil)
	for _, tc := range []struct{ name, id, key string }{
		{"wrong key", "d1", other},
		{"unknown device", "ghost", key},
		{"disabled device", "off", key},
	} {
		if _, err := dialDevice(t, e, tc.id, tc.key, true); err == nil {
			t.Errorf("%s: connection accepted", tc.name)
		}
	}
}

func TestTwoDevicesAreIsolated(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	a, err := dialDevice(t, e, "devA", svc.createDevice("devA"), false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dialDevice(t, e, "devB", svc.createDevice("devB"), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{a, b} {
		d.subscribe("$iothub/twin/res/#")
		d.subscribe("$iothub/twin/PATCH/properties/desired/#")
	}
	a.publish("$iothub/twin/GET/?$rid=a1", "")
	a.publish("$iothub/twin/PATCH/properties/reported/?$rid=a2", `{"x":1}`)
	svc.do("PATCH", "/twins/devA", map[string]any{"properties": map[string]any{"desired": map[string]any{"onlyA": true}}}, nil)
	a.await("$iothub/twin/res/200/?$rid=a1")
	a.await("$iothub/twin/res/204/?$rid=a2")
	a.await("$iothub/twin/PATCH/properties/desired/")
	// B asks for its own twin last; once that answer arrives, anything of
	// A's that leaked would have arrived before it.
	b.publish("$iothub/twin/GET/?$rid=b1", "")
	b.await("$iothub/twin/res/200/?$rid=b1")
	b.quiet(svc, "/twins/devB") // nothing of A's, queued notifications included
	a.quiet(svc, "/twins/devA")

	// A cannot subscribe to or publish on B's topics: the hub closes the connection.
	a.client.Subscribe("devices/devB/messages/devicebound/#", 1, nil).WaitTimeout(wait)
	select {
	case <-a.lost:
	case <-time.After(wait):
		t.Fatal("subscribing to another device's topic did not close the connection")
	}
	a2, err := dialDevice(t, e, "devA", svc.deviceKey("devA"), true)
	if err != nil {
		t.Fatal(err)
	}
	a2.client.Publish("devices/devB/messages/events/", 1, false, "spoof").WaitTimeout(wait)
	select {
	case <-a2.lost:
	case <-time.After(wait):
		t.Fatal("publishing on another device's topic did not close the connection")
	}
	if got := b.received(); len(got) != 0 {
		t.Fatalf("device B received: %v", got)
	}
}

// deviceKey returns the primary key of an existing device.
func (s *service) deviceKey(id string) string {
	var d struct {
		Authentication struct {
			SymmetricKey struct{ PrimaryKey string }
		}
	}
	if st := s.do("GET", "/devices/"+id, nil, &d); st != 200 {
		s.t.Fatalf("get %s: %d", id, st)
	}
	return d.Authentication.SymmetricKey.PrimaryKey
}

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, false)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	svc.do("PATCH", "/twins/d1", map[string]any{"tags": map[string]any{"plant": "Redmond43"}, "properties": map[string]any{"desired": map[string]any{"fw": "1.2"}}}, nil)
	d, err := dialDevice(t, e, "d1", key, false)
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("$iothub/twin/res/#")
	d.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", `{"fw":"1.2","battery":80}`)
	d.await("$iothub/twin/res/204/")
	before := svc.twin("d1")
	caBefore := string(e.CAPEM())
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := start(t, dir, false)
	if string(e2.CAPEM()) != caBefore {
		t.Fatal("the CA changed across a restart")
	}
	svc2 := newService(t, e2)
	after := svc2.twin("d1")
	before["connectionState"], after["connectionState"] = nil, nil
	before["lastActivityTime"], after["lastActivityTime"] = nil, nil
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	if string(bj) != string(aj) {
		t.Fatalf("twin changed across restart:\nbefore %s\nafter  %s", bj, aj)
	}
	// The device's key still works.
	if _, err := dialDevice(t, e2, "d1", key, true); err != nil {
		t.Fatalf("reconnect after restart: %v", err)
	}
}

func TestInMemoryLeavesNothingBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "unused")
	e := start(t, dir, true)
	ca := e.CAPath()
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("in-memory CA file: %v", err)
	}
	// Writes go through the same store path as on disk, into memory.
	newService(t, e).createDevice("d1")
	if _, ok := e.store.(*store.Memory); !ok {
		t.Fatalf("in-memory emulator runs on %T", e.store)
	}
	if v, err := e.store.Get(store.Devices, "d1"); err != nil || v == nil {
		t.Fatalf("device record in the in-memory store: %q, %v", v, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ca); !os.IsNotExist(err) {
		t.Fatalf("temporary CA still there after Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("in-memory emulator created its data dir: %v", err)
	}
}

func TestHealthzOnBothPorts(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	resp, err := svc.http.Get("http://" + e.Addr(HTTP) + "/emulator/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(ca) != string(e.CAPEM()) {
		t.Fatalf("/emulator/ca.pem served %q", ca)
	}
	for _, u := range []string{"https://" + e.Addr(HTTPS) + "/healthz", "http://" + e.Addr(HTTP) + "/healthz"} {
		resp, err := svc.http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.Bind = "not-an-ip" },
		func(c *Config) { c.MQTTSPort = 70000 },
		func(c *Config) {
			c.MQTTSPort, c.HTTPSPort, c.MQTTPort, c.HTTPPort = Off, Off, Off, Off
			c.AMQPSPort, c.AMQPPort = Off, Off
		},
		func(c *Config) { c.AMQPSPort = -2 },
		func(c *Config) { c.TLSCert = "x.pem" },
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.HostNames = []string{"a b"} },
		func(c *Config) { c.Partitions = 0 },
		func(c *Config) { c.Partitions = 33 },
		func(c *Config) { c.ConsumerGroups = []string{"$Default"} },
		func(c *Config) { c.ConsumerGroups = []string{"a", "A"} },
		func(c *Config) { c.ConsumerGroups = []string{strings.Repeat("x", 51)} },
		func(c *Config) { c.EventHubName = "bad name" },
		func(c *Config) { c.HostNames = []string{"hub_.example"} }, // gives iothub-ehub-hub_
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v passed validation", c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestModuleTwinOverMQTT(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	devKey := svc.createDevice("d1")
	var m struct {
		Authentication struct {
			SymmetricKey struct{ PrimaryKey string }
		}
	}
	if st := svc.do("PUT", "/devices/d1/modules/m1", map[string]string{"moduleId": "m1"}, &m); st != 200 {
		t.Fatalf("create module: %d", st)
	}
	dev, err := dialDevice(t, e, "d1", devKey, false)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := dialIdentity(t, e, "d1", "m1", m.Authentication.SymmetricKey.PrimaryKey, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*device{dev, mod} {
		c.subscribe("$iothub/twin/res/#")
		c.subscribe("$iothub/twin/PATCH/properties/desired/#")
	}
	mod.publish("$iothub/twin/PATCH/properties/reported/?$rid=m1", `{"status":"scanning"}`)
	mod.await("$iothub/twin/res/204/?$rid=m1")
	svc.do("PATCH", "/twins/d1/modules/m1", map[string]any{"properties": map[string]any{"desired": map[string]any{"rate": 2}}}, nil)
	mod.await("$iothub/twin/PATCH/properties/desired/?$version=2")

	var rows []map[string]any
	svc.do("POST", "/devices/query", map[string]string{"query": "SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning'"}, &rows)
	if len(rows) != 1 || rows[0]["moduleId"] != "m1" || rows[0]["connectionState"] != "Connected" {
		t.Fatalf("module query: %v", rows)
	}
	dev.publish("$iothub/twin/GET/?$rid=d1", "")
	dev.await("$iothub/twin/res/200/?$rid=d1")
	dev.quiet(svc, "/twins/d1") // none of its module's traffic
	mod.quiet(svc, "/twins/d1/modules/m1")
}

func TestTelemetryReadBack(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, false)
	svc := newService(t, e)
	d, err := dialDevice(t, e, "sensor", svc.createDevice("sensor"), false)
	if err != nil {
		t.Fatal(err)
	}
	d.publish("devices/sensor/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&temp%20unit=celsius", `{"temperature":21.5}`)
	d.publish("devices/sensor/messages/events/", "second")

	type page struct {
		Messages []struct {
			SequenceNumber   int64
			DeviceID         string
			SystemProperties map[string]string
			Properties       map[string]string
			BodyText         string
		}
		NextSequenceNumber int64
	}
	var p page
	if st := svc.do("GET", "/emulator/messages/events", nil, &p); st != 200 {
		t.Fatalf("read back: %d", st)
	}
	if len(p.Messages) != 2 {
		t.Fatalf("messages: %+v", p)
	}
	m := p.Messages[0]
	if m.DeviceID != "sensor" || m.SystemProperties["message-id"] != "m1" || m.SystemProperties["content-type"] != "application/json" ||
		m.Properties["temp unit"] != "celsius" || m.BodyText != `{"temperature":21.5}` || m.SystemProperties["iothub-connection-device-id"] != "sensor" {
		t.Fatalf("first message: %+v", m)
	}
	if p.Messages[1].BodyText != "second" || p.Messages[1].SequenceNumber <= m.SequenceNumber {
		t.Fatalf("second message: %+v", p.Messages[1])
	}
	if tw := svc.twin("sensor"); tw["lastActivityTime"] == "0001-01-01T00:00:00Z" {
		t.Fatal("telemetry did not move lastActivityTime")
	}
	// Telemetry survives a restart.
	e.Close()
	e2 := start(t, dir, false)
	var p2 page
	newService(t, e2).do("GET", "/emulator/messages/events", nil, &p2)
	if len(p2.Messages) != 2 || p2.Messages[0].BodyText != m.BodyText {
		t.Fatalf("after restart: %+v", p2)
	}
}

func TestDirectMethods(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	call := func(body map[string]any) (int, map[string]any) {
		var out map[string]any
		st := svc.do("POST", "/twins/d1/methods", body, &out)
		return st, out
	}
	if st, _ := call(map[string]any{"methodName": "reboot", "responseTimeoutInSeconds": 5}); st != 404 {
		t.Fatalf("offline device: %d, want 404", st)
	}
	d, err := dialDevice(t, e, "d1", key, false)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := call(map[string]any{"methodName": "reboot", "responseTimeoutInSeconds": 5}); st != 404 {
		t.Fatalf("connected but not subscribed: %d, want 404", st)
	}
	tk := d.client.Subscribe("$iothub/methods/POST/#", 0, func(c paho.Client, m paho.Message) {
		// Answer with the method name and the payload, status 200.
		parts := strings.Split(m.Topic(), "/")
		rid := strings.TrimPrefix(parts[4], "?$rid=")
		c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, fmt.Sprintf(`{"method":%q,"got":%s}`, parts[3], m.Payload()))
	})
	if !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatal(tk.Error())
	}
	st, out := call(map[string]any{"methodName": "reboot", "payload": map[string]any{"delay": 5}, "responseTimeoutInSeconds": 5})
	if st != 200 || out["status"] != float64(200) || fmt.Sprint(out["payload"]) != "map[got:map[delay:5] method:reboot]" {
		t.Fatalf("method call: %d %v", st, out)
	}
	if st, _ := call(map[string]any{"methodName": "reboot", "responseTimeoutInSeconds": 1}); st != 400 {
		t.Fatalf("out-of-range timeout: %d, want 400", st)
	}
}

func TestCloudToDevice(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, false)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	send := func(body map[string]any) int {
		return svc.do("POST", "/emulator/devices/d1/messages/devicebound", body, nil)
	}
	// Queued while the device is offline; the count shows on the twin.
	if st := send(map[string]any{"body": "first", "messageId": "m1", "ack": "full", "properties": map[string]string{"cmd": "on off"}}); st != 200 {
		t.Fatalf("send: %d", st)
	}
	if st := send(map[string]any{"body": "second"}); st != 200 {
		t.Fatalf("send: %d", st)
	}
	if c := svc.twin("d1")["cloudToDeviceMessageCount"]; c != float64(2) {
		t.Fatalf("cloudToDeviceMessageCount = %v", c)
	}
	if st := svc.do("POST", "/emulator/devices/ghost/messages/devicebound", map[string]any{"body": "x"}, nil); st != 404 {
		t.Fatalf("send to unknown device: %d", st)
	}

	// A restart keeps the queue.
	e.Close()
	e = start(t, dir, false)
	svc = newService(t, e)
	if c := svc.twin("d1")["cloudToDeviceMessageCount"]; c != float64(2) {
		t.Fatalf("after restart cloudToDeviceMessageCount = %v", c)
	}

	d, err := dialDevice(t, e, "d1", key, false)
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("devices/d1/messages/devicebound/#")
	m := d.await("devices/d1/messages/devicebound/")
	for _, want := range []string{"%24.mid=m1", "%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound", "iothub-ack=full", "cmd=on%20off"} {
		if !strings.Contains(m.Topic(), want) {
			t.Fatalf("topic %s lacks %s", m.Topic(), want)
		}
	}
	if string(m.Payload()) != "first" {
		t.Fatalf("payload %q", m.Payload())
	}
	if m2 := d.await("devices/d1/messages/devicebound/"); string(m2.Payload()) != "second" {
		t.Fatalf("second payload %q", m2.Payload())
	}
	// PUBACK completes: the count returns to 0 and a positive feedback record appears.
	testkit.EventuallyWithin(t, wait, "completed messages no longer counted", func() bool {
		return svc.twin("d1")["cloudToDeviceMessageCount"] == float64(0)
	})
	var feedback []map[string]any
	svc.do("GET", "/emulator/messages/feedback", nil, &feedback)
	if len(feedback) != 1 || feedback[0]["originalMessageId"] != "m1" || feedback[0]["statusCode"] != "Success" {
		t.Fatalf("feedback = %v", feedback)
	}

	// Purge.
	d.client.Unsubscribe("devices/d1/messages/devicebound/#").WaitTimeout(wait)
	send(map[string]any{"body": "x"})
	send(map[string]any{"body": "y"})
	var purged map[string]any
	if st := svc.do("DELETE", "/devices/d1/commands", nil, &purged); st != 200 || purged["totalMessagesPurged"] != float64(2) {
		t.Fatalf("purge: %d %v", st, purged)
	}
}

func TestMQTTOverWebSockets(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("wsdev")
	tok, _ := sas.NewToken("localhost/devices/wsdev", key, "", time.Now().Add(time.Hour))
	got := make(chan paho.Message, 4)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("wss://" + e.Addr(HTTPS) + WebSocketPath).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"}).
		SetClientID("wsdev").SetUsername("localhost/wsdev/?api-version=2021-04-12").SetPassword(tok).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m }))
	if tk := c.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect over wss: %v", tk.Error())
	}
	defer c.Disconnect(50)
	c.Subscribe("$iothub/twin/res/#", 0, nil).WaitTimeout(wait)
	c.Publish("$iothub/twin/GET/?$rid=7", 0, false, "").WaitTimeout(wait)
	select {
	case m := <-got:
		if !strings.HasPrefix(m.Topic(), "$iothub/twin/res/200/?$rid=7") {
			t.Fatalf("topic %s", m.Topic())
		}
	case <-time.After(wait):
		t.Fatal("no twin response over WebSockets")
	}
}

func TestMetricsAndReset(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	d, err := dialDevice(t, e, "d1", key, true)
	if err != nil {
		t.Fatal(err)
	}
	d.publish("devices/d1/messages/events/", "x")
	svc.twin("d1")
	svc.do("POST", "/devices/query", map[string]string{"query": "SELECT * FROM devices"}, nil)

	resp, err := svc.http.Get("https://" + e.Addr(HTTPS) + "/emulator/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"iothub_connections 1\n",
		"iothub_devices 1\n",
		"iothub_d2c_messages_total 1\n",
		`iothub_twin_operations_total{operation="read"} 1` + "\n",
		`iothub_registry_operations_total{operation="create-device"} 1` + "\n",
		"iothub_query_duration_seconds_count 1\n",
		`iothub_rest_requests_total{code="200"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	if st := svc.do("POST", "/emulator/reset", nil, nil); st != 204 {
		t.Fatalf("reset: %d", st)
	}
	select {
	case <-d.lost:
	case <-time.After(wait):
		t.Fatal("reset did not disconnect the device")
	}
	var devices []any
	svc.do("GET", "/devices", nil, &devices)
	var events struct{ Messages []any }
	svc.do("GET", "/emulator/messages/events", nil, &events)
	if len(devices) != 0 || len(events.Messages) != 0 {
		t.Fatalf("after reset: %d devices, %d messages", len(devices), len(events.Messages))
	}
}

func TestDebugLogRedactsSignatures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.jsonl")
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, Off, Off
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory, cfg.DebugLog = true, path
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, e)
	key := svc.createDevice("d1")
	const secret = "t1wDFCNnjY6McREjNM1rgb5ojUtj0WxOQHsTk6mD9nU="
	svc.do("PUT", "/devices/d2", map[string]any{"deviceId": "d2", "authentication": map[string]any{"symmetricKey": map[string]string{"primaryKey": secret, "secondaryKey": secret}}}, nil)
	d, err := dialDevice(t, e, "d1", key, true)
	if err != nil {
		t.Fatal(err)
	}
	d.publish("devices/d1/messages/events/", "hello")
	d.client.Disconnect(100)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"url":"/devices/d1?api-version=2021-04-12"`, "sig=REDACTED", `"protocol":"mqtt"`, `"packet":"Connect"`, `"topic":"devices/d1/messages/events/","body":"hello"`} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("debug log lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), secret) {
		t.Fatal("a device key reached the debug log")
	}
	for _, m := range regexp.MustCompile(`sig=([^&"\\]*)`).FindAllStringSubmatch(string(data), -1) {
		if m[1] != "REDACTED" {
			t.Fatalf("a signature reached the debug log: %s", m[0])
		}
	}
}

func TestSeedAtStartAndExportImport(t *testing.T) {
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "seed.yaml")
	const doc = `devices:
  - id: student-01
    keys: { primary: "t1wDFCNnjY6McREjNM1rgb5ojUtj0WxOQHsTk6mD9nU=", secondary: "xFfJj1X1anst/09nrw/3EoQ9OI9ryn/Jn89sF4JqDPk=" }
    tags: { table: 3 }
    reported: { firmware: "1.0.3" }
`
	if err := os.WriteFile(seedFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, Off, Off
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory, cfg.SeedFile = true, seedFile
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	svc := newService(t, e)
	tw := svc.twin("student-01")
	if tw["tags"].(map[string]any)["table"] != float64(3) {
		t.Fatalf("seeded twin: %v", tw)
	}
	// The fixed key works for the device.
	if _, err := dialDevice(t, e, "student-01", "t1wDFCNnjY6McREjNM1rgb5ojUtj0WxOQHsTk6mD9nU=", true); err != nil {
		t.Fatalf("seeded key: %v", err)
	}
	resp, err := svc.http.Do(mustRequest(t, svc, "GET", "/emulator/export?format=json", ""))
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(exported), `"student-01"`) || !strings.Contains(string(exported), "1.0.3") {
		t.Fatalf("export: %d %s", resp.StatusCode, exported)
	}
	// Import into a fresh hub gives the same export.
	e2 := start(t, t.TempDir(), true)
	svc2 := newService(t, e2)
	resp, err = svc2.http.Do(mustRequest(t, svc2, "POST", "/emulator/import", string(exported)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	resp, _ = svc2.http.Do(mustRequest(t, svc2, "GET", "/emulator/export?format=json", ""))
	again, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(again) != string(exported) {
		t.Fatalf("export after import differs:\n%s\n%s", exported, again)
	}
	if e := filepath.Join(dir, "bad.yaml"); os.WriteFile(e, []byte("devices: [{id: 'bad id'}]"), 0o600) == nil {
		cfg.SeedFile = e
		if _, err := New(cfg); err == nil {
			t.Fatal("a bad seed file did not stop the start")
		}
	}
}

// mustRequest builds a signed request to the emulator's HTTPS port.
func mustRequest(t *testing.T, s *service, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+s.e.Addr(HTTPS)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := sas.ParseConnectionString(s.e.ConnectionString("iothubowner"))
	tok, _ := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	req.Header.Set("Authorization", tok)
	return req
}

func TestFaultsThroughTheAdminEndpointAndTelemetry(t *testing.T) {
	e := start(t, t.TempDir(), true)
	svc := newService(t, e)
	key := svc.createDevice("d1")

	// Throttle twin reads for a while: the service gets IoT Hub's 429.
	var fault map[string]any
	if st := svc.do("POST", "/emulator/faults", map[string]any{"fault": "throttle", "operation": "twinReads", "durationSeconds": 30}, &fault); st != 201 {
		t.Fatalf("add fault: %d", st)
	}
	if st := svc.do("GET", "/twins/d1", nil, nil); st != 429 {
		t.Fatalf("throttled twin read: %d, want 429", st)
	}
	if st := svc.do("DELETE", "/emulator/faults", nil, nil); st != 204 {
		t.Fatalf("clear faults: %d", st)
	}
	if st := svc.do("GET", "/twins/d1", nil, nil); st != 200 {
		t.Fatalf("twin read after clearing: %d", st)
	}

	// Refused reconnects.
	svc.do("POST", "/emulator/faults", map[string]any{"fault": "refuseConnects", "deviceId": "d1", "durationSeconds": 30}, nil)
	if _, err := dialDevice(t, e, "d1", key, true); err == nil {
		t.Fatal("connect accepted while refused")
	}
	svc.do("DELETE", "/emulator/faults", nil, nil)

	// IoT Hub's fault-injection telemetry: KillTcp drops the connection after the delay.
	d, err := dialDevice(t, e, "d1", key, true)
	if err != nil {
		t.Fatal(err)
	}
	tk := d.client.Publish("devices/d1/messages/events/AzIoTHub_FaultOperationType=KillTcp&AzIoTHub_FaultOperationCloseReason=boom&AzIoTHub_FaultOperationDelayInSecs=0", 1, false, "fault")
	if !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("fault message not acknowledged: %v", tk.Error())
	}
	select {
	case <-d.lost:
	case <-time.After(wait):
		t.Fatal("KillTcp did not drop the connection")
	}
	// The hub recovers: the device connects again.
	if _, err := dialDevice(t, e, "d1", key, true); err != nil {
		t.Fatalf("reconnect after KillTcp: %v", err)
	}
}

func TestTierThrottling(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = Off, 0, Off, Off
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory, cfg.Tier = true, "s1"
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	svc := newService(t, e)
	// S1 allows 20 queries a minute: a burst of them soon meets 429.
	throttled := false
	for range 10 {
		if st := svc.do("POST", "/devices/query", map[string]string{"query": "SELECT * FROM devices"}, nil); st == 429 {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("ten immediate queries on an S1 hub were never throttled")
	}
	bad := DefaultConfig()
	bad.Tier = "S9"
	if err := bad.Validate(); err == nil {
		t.Fatal("tier S9 accepted")
	}
}

func TestClientsListAndStrictMQTT(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, Off, Off
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory, cfg.Strict = true, true
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	svc := newService(t, e)
	key := svc.createDevice("d1")
	d, err := dialDevice(t, e, "d1", key, true) // api-version=2021-04-12 is known
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("$iothub/twin/res/#")
	var clients []map[string]any
	if st := svc.do("GET", "/emulator/clients", nil, &clients); st != 200 {
		t.Fatalf("clients: %d", st)
	}
	if len(clients) != 1 || clients[0]["deviceId"] != "d1" || clients[0]["listener"] != MQTTS || fmt.Sprint(clients[0]["subscriptions"]) != "[$iothub/twin/res/#]" {
		t.Fatalf("clients = %v", clients)
	}
	// Under --strict an unknown api-version in the MQTT username is refused.
	tok, _ := sas.NewToken("localhost/devices/d1", key, "", time.Now().Add(time.Hour))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + e.Addr(MQTTS)).SetClientID("d1").
		SetUsername("localhost/d1/?api-version=1999-01-01").SetPassword(tok).SetProtocolVersion(4).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"}).SetAutoReconnect(false).SetConnectTimeout(wait))
	if tk := c.Connect(); !tk.WaitTimeout(wait) || tk.Error() == nil {
		c.Disconnect(0)
		t.Fatal("an unknown api-version was accepted under --strict")
	}
}

// A privileged port that may not be bound is reported in one line and the
// other listeners keep serving; any other bind failure stops the start.
func TestPrivilegedPortIsReportedAndSkipped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 443, Off, 0
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory = true
	cfg.listen = func(network, address string) (net.Listener, error) {
		if strings.HasSuffix(address, ":443") {
			return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("bind", syscall.EACCES)}
		}
		return net.Listen(network, address)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("a refused privileged port stopped the start: %v", err)
	}
	defer e.Close()
	if e.Addr(HTTPS) != "" || e.Addr(MQTTS) == "" || e.Addr(HTTP) == "" {
		t.Fatalf("listeners: https %q mqtts %q http %q", e.Addr(HTTPS), e.Addr(MQTTS), e.Addr(HTTP))
	}
	w := e.Warnings()
	if len(w) != 1 || strings.Count(w[0], "\n") != 0 || !strings.Contains(w[0], "443") || !strings.Contains(w[0], "CAP_NET_BIND_SERVICE") || !strings.Contains(w[0], "--https-port") {
		t.Fatalf("warnings = %q", w)
	}
	resp, err := http.Get("http://" + e.Addr(HTTP) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz with a port skipped: %d", resp.StatusCode)
	}

	busy := DefaultConfig()
	busy.MQTTSPort, busy.HTTPSPort, busy.MQTTPort, busy.HTTPPort = 0, Off, Off, Off
	busy.AMQPSPort, busy.AMQPPort = Off, Off
	busy.InMemory = true
	busy.listen = func(string, string) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	if _, err := New(busy); err == nil {
		t.Fatal("a port in use did not stop the start")
	}
}
