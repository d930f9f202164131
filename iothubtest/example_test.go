package iothubtest_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/iothubtest"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// A test of device code: start a hub, create the device, run the device
// code against the hub, and read back what it reported and sent.
func Example() {
	t := &exampleT{} // a real test has its own t: func TestThermostat(t *testing.T)
	defer t.cleanup()

	hub := iothubtest.Start(t)
	dev := hub.CreateDevice(t, "thermostat")

	if err := runThermostat(dev.ConnectionString, hub.MQTTAddr(), hub.ClientTLSConfig()); err != nil {
		t.Fatalf("device code: %v", err)
	}

	twin := hub.Twin(t, "thermostat")
	fmt.Println("reported firmware:", iothubtest.Lookup(twin, "properties.reported.firmware"))
	msg := hub.NextTelemetry(t, "thermostat", 5*time.Second)
	fmt.Println("telemetry:", string(msg.Body), msg.SystemProperties["content-type"])
	// Output:
	// reported firmware: 1.2.0
	// telemetry: {"temperature":21.5} application/json
}

// runThermostat is the device code under test. It connects over MQTT with
// its connection string as a device SDK does, reports its firmware version
// as a reported property, waits for the hub to accept it, and sends one
// reading. In production addr is the hub's host name and port 8883.
func runThermostat(connectionString, addr string, tlsConf *tls.Config) error {
	cs, err := sas.ParseConnectionString(connectionString)
	if err != nil {
		return err
	}
	token, err := sas.NewToken(cs.HostName+"/devices/"+cs.DeviceID, cs.SharedAccessKey, "", time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("ssl://" + addr).
		SetTLSConfig(tlsConf).
		SetProtocolVersion(4).
		SetClientID(cs.DeviceID).
		SetUsername(cs.HostName + "/" + cs.DeviceID + "/?api-version=2021-04-12").
		SetPassword(token))
	if err := complete(c.Connect()); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Disconnect(250)

	responses := make(chan string, 1)
	onResponse := func(_ paho.Client, m paho.Message) { responses <- m.Topic() }
	if err := complete(c.Subscribe("$iothub/twin/res/#", 1, onResponse)); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := complete(c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=1", 1, false, `{"firmware":"1.2.0"}`)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	select {
	case topic := <-responses:
		if !strings.HasPrefix(topic, "$iothub/twin/res/204/") {
			return fmt.Errorf("report refused: %s", topic)
		}
	case <-time.After(5 * time.Second):
		return errors.New("no response to the reported-properties patch")
	}
	telemetry := "devices/" + cs.DeviceID + "/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8"
	return complete(c.Publish(telemetry, 1, false, `{"temperature":21.5}`))
}

// complete waits, bounded, for an MQTT operation to complete.
func complete(tok paho.Token) error {
	if !tok.WaitTimeout(5 * time.Second) {
		return errors.New("timed out")
	}
	return tok.Error()
}

// exampleT stands in for the *testing.T that a test function receives and
// an Example does not: it implements the testing.TB methods the harness
// calls, runs cleanups when the example ends, and panics on a failure,
// which fails the example.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Helper()                   {}
func (t *exampleT) Name() string              { return "Example" }
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *exampleT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
