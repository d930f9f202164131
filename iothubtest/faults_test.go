package iothubtest_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/iothubtest"
)

func TestFaultHelpers(t *testing.T) {
	h := iothubtest.Start(t)
	dev := h.CreateDevice(t, "d1")

	lost := make(chan struct{}, 1)
	h.DialMQTT(t, dev.ConnectionString, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(paho.Client, error) { lost <- struct{}{} })
	})
	h.DropConnection("d1", "")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("DropConnection did not close the connection")
	}

	h.RefuseConnects(t, "d1", "", time.Minute)
	tok := h.SASToken(t, "d1", time.Hour)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + h.MQTTAddr()).SetClientID("d1").
		SetUsername(h.HostName() + "/d1/?api-version=2021-04-12").SetPassword(tok).
		SetTLSConfig(h.ClientTLSConfig()).SetAutoReconnect(false).SetConnectTimeout(wait))
	if ct := c.Connect(); !ct.WaitTimeout(wait) || ct.Error() == nil {
		c.Disconnect(0)
		t.Fatal("a refused device connected")
	}
	h.ClearFaults()
	h.DialMQTT(t, dev.ConnectionString) // fails the test if refused

	h.Throttle(t, faults.TwinReads, time.Minute)
	if faultsActive := h.Emulator().Faults().Active(); len(faultsActive) != 1 {
		t.Fatalf("active faults: %+v", faultsActive)
	}
	h.DelayTwin(t, "d1", "", 50*time.Millisecond, time.Minute)
	h.ClearFaults()
	if n := len(h.Emulator().Faults().Active()); n != 0 {
		t.Fatalf("%d faults after ClearFaults", n)
	}
}
