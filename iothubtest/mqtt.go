package iothubtest

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// mqttAPIVersion is the api-version DialMQTT puts in the CONNECT username.
const mqttAPIVersion = "2021-04-12"

// DialMQTT connects an MQTT 3.1.1 client over TLS as the device or module
// of a connection string (Device.ConnectionString, Module.ConnectionString,
// or one with SharedAccessSignature), the way the device SDKs do: client id
// {deviceId}[/{moduleId}], username {HostName}/{clientId}/?api-version=...,
// a SAS token valid for an hour as the password, a persistent session
// (CleanSession false) and no automatic reconnect. opts may change the
// options before connecting (a default publish handler, a clean session).
// It fails the test if the connection is refused or does not complete
// within DefaultTimeout, and disconnects the client when the test ends.
//
// Subscribe before relying on twin responses, desired-property updates,
// methods or cloud-to-device messages, as a device must:
//
//	c := h.DialMQTT(t, dev.ConnectionString)
//	c.Subscribe("$iothub/twin/res/#", 1, handler).WaitTimeout(iothubtest.DefaultTimeout)
func (h *Hub) DialMQTT(t testing.TB, connectionString string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	cs, err := sas.ParseConnectionString(connectionString)
	if err != nil {
		t.Fatalf("iothubtest: dial MQTT: %v", err)
	}
	if cs.DeviceID == "" {
		t.Fatalf("iothubtest: dial MQTT: the connection string has no DeviceId")
	}
	clientID, resource := cs.DeviceID, cs.HostName+"/devices/"+cs.DeviceID
	if cs.ModuleID != "" {
		clientID, resource = clientID+"/"+cs.ModuleID, resource+"/modules/"+cs.ModuleID
	}
	password := cs.SharedAccessSignature
	if password == "" {
		if cs.SharedAccessKey == "" {
			t.Fatalf("iothubtest: dial MQTT as %s: the connection string has neither SharedAccessKey nor SharedAccessSignature", clientID)
		}
		password, err = sas.NewToken(resource, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("iothubtest: dial MQTT as %s: %v", clientID, err)
		}
	}
	addr := h.MQTTAddr()
	if addr == "" {
		t.Fatalf("iothubtest: dial MQTT as %s: the hub's MQTT over TLS listener is off", clientID)
	}
	o := paho.NewClientOptions().
		AddBroker("ssl://" + addr).
		SetTLSConfig(h.ClientTLSConfig()).
		SetClientID(clientID).
		SetUsername(cs.HostName + "/" + clientID + "/?api-version=" + mqttAPIVersion).
		SetPassword(password).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(DefaultTimeout).
		SetWriteTimeout(DefaultTimeout)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(DefaultTimeout + time.Second) {
		c.Disconnect(0)
		t.Fatalf("iothubtest: dial MQTT as %s: no CONNACK within %v", clientID, DefaultTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("iothubtest: dial MQTT as %s: %v", clientID, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
