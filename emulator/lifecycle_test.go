package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// Deleting identities drops their MQTT sessions (SDKs connect with clean
// session 0) and queues, whether they are connected or not; disabling one
// keeps its session for when it comes back.
func TestDeletedIdentitiesLeaveNoSession(t *testing.T) {
	e := start(t, t.TempDir(), false)
	svc := newService(t, e)
	b := e.Broker()
	const n = 12
	for i := range n {
		id := fmt.Sprintf("dev%02d", i)
		key, modKey := svc.createDevice(id), svc.createModule(id, "mod")
		dev, err := dialDevice(t, e, id, key, false)
		if err != nil {
			t.Fatal(err)
		}
		mod, err := dialIdentity(t, e, id, "mod", modKey, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*device{dev, mod} {
			c.subscribe("$iothub/twin/res/#")
			c.subscribe("$iothub/methods/POST/#")
		}
		// Queued, not delivered: the device is not subscribed to it.
		if st := svc.do("POST", "/emulator/devices/"+id+"/messages/devicebound", map[string]any{"body": "unread"}, nil); st != 200 {
			t.Fatalf("send: %d", st)
		}
		switch i % 3 {
		case 0: // deleted while connected
		case 1: // deleted once offline
			dev.client.Disconnect(50)
			mod.client.Disconnect(50)
			testkit.Eventually(t, "offline", func() bool { return !b.IsConnected(id, "") && !b.IsConnected(id, "mod") })
		case 2: // the module first, then the device
			if st := svc.do("DELETE", "/devices/"+id+"/modules/mod", nil, nil); st != 204 {
				t.Fatalf("delete module: %d", st)
			}
		}
		if st := svc.do("DELETE", "/devices/"+id, nil, nil); st != 204 {
			t.Fatalf("delete device: %d", st)
		}
		if p := e.C2D().Pending(id); p != 0 {
			t.Fatalf("%s: %d messages still queued", id, p)
		}
	}
	testkit.Eventually(t, "sessions dropped", func() bool { return b.SessionCount() == 0 && b.ConnectedCount() == 0 })

	// Disabled, not deleted: the session waits for the device.
	key := svc.createDevice("paused")
	d, err := dialDevice(t, e, "paused", key, false)
	if err != nil {
		t.Fatal(err)
	}
	d.subscribe("$iothub/methods/POST/#")
	if st := svc.do("PUT", "/devices/paused", map[string]any{"deviceId": "paused", "status": "disabled"}, nil, "If-Match", "*"); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	select {
	case <-d.lost:
	case <-time.After(wait):
		t.Fatal("disabled device still connected")
	}
	testkit.Eventually(t, "disconnected", func() bool { return !b.IsConnected("paused", "") })
	if got := b.SessionCount(); got != 1 {
		t.Fatalf("a disabled device's session: %d sessions, want 1", got)
	}
}

// BenchmarkIdentityChurn is the whole emulator's version of the broker's
// churn test: devices created, connected over TLS with clean session 0 or 1
// and subscribed as SDKs do, disconnected and deleted. It reports the heap
// each leaves behind.
func BenchmarkIdentityChurn(b *testing.B) {
	for _, clean := range []bool{false, true} {
		b.Run(fmt.Sprintf("clean=%v", clean), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, Off, Off, Off
			cfg.AMQPSPort, cfg.AMQPPort = Off, Off
			cfg.InMemory = true
			e, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(e.CAPEM())
			conf := &tls.Config{RootCAs: pool, ServerName: "localhost"}
			h := e.Hub()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range b.N {
				id := fmt.Sprintf("churn-%06d", i)
				dev, err := h.PutDevice(context.Background(), id, []byte(`{"deviceId":"`+id+`"}`), "")
				if err != nil {
					b.Fatal(err)
				}
				if err := churnDevice(e.Addr(MQTTS), conf, id, dev.Authentication.SymmetricKey.PrimaryKey, clean); err != nil {
					b.Fatal(err)
				}
				for deadline := time.Now().Add(wait); e.Broker().IsConnected(id, ""); time.Sleep(100 * time.Microsecond) {
					if time.Now().After(deadline) {
						b.Fatal("still connected")
					}
				}
				if err := h.DeleteDevice(context.Background(), id, ""); err != nil {
					b.Fatal(err)
				}
			}
			if n := e.Broker().SessionCount(); n != 0 {
				b.Fatalf("%d sessions left", n)
			}
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/device")
		})
	}
}

// churnDevice connects over TLS as an SDK does, subscribes to a device's
// filters and disconnects, keeping nothing on the client side.
func churnDevice(addr string, conf *tls.Config, id, key string, clean bool) error {
	tok, err := sas.NewToken("localhost/devices/"+id, key, "", time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return err
	}
	return testkit.MQTTSession(c, id, "localhost/"+id+"/?api-version=2021-04-12", tok, clean,
		[]string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#", "devices/" + id + "/messages/devicebound/#"})
}
