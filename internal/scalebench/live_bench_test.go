package scalebench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// The live rows run against one emulator with its file store, started on
// an empty data directory with liveDevices devices imported (not the
// populated fleet: they measure the cost of each operation), and against
// the scalebase baselines, each in its own process, all started on first
// use and stopped after the last benchmark. Rounds alternate between the
// emulator and its baseline so that both see the same machine.

const (
	liveDevices = 50
	liveRounds  = 6 // three of each side, alternating
)

type live struct {
	emu                      *emulatorProc
	chi, echo, mochi, bridge *baseProc
}

var (
	liveMu  sync.Mutex
	liveSrv live
)

func liveEmulator(b *testing.B) *emulatorProc {
	liveMu.Lock()
	defer liveMu.Unlock()
	if liveSrv.emu == nil {
		e := startEmulator(b, filepath.Join(workDir(b), "live"))
		atExit(e.stopErr)
		e.importFleet(b, "mq", 0, liveDevices)
		liveSrv.emu = e
	}
	return liveSrv.emu
}

func liveBase(b *testing.B, slot **baseProc, mode string, extra ...string) *baseProc {
	liveMu.Lock()
	defer liveMu.Unlock()
	if *slot == nil {
		p := startBase(b, mode, extra...)
		atExit(p.stopErr)
		*slot = p
	}
	return *slot
}

func deviceID(i int) string { return fmt.Sprintf("mq-%06d", i) }

// dialMQTT connects device id over MQTT 3.1.1/TLS with the credentials
// IoT Hub wants (the bare brokers accept them as they accept anything), so
// both sides read the same CONNECT. onMessage runs in paho's order.
func dialMQTT(tb testing.TB, addr, host, id string, onMessage func(topic string, payload []byte)) paho.Client {
	tb.Helper()
	tok, err := sas.NewToken(host+"/devices/"+id, DeviceKey, "", time.Now().Add(2*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	opts := paho.NewClientOptions().
		AddBroker("ssl://" + addr).
		SetClientID(id).
		SetUsername(host + "/" + id + "/?" + apiVersion).
		SetPassword(tok).
		SetTLSConfig(clientTLS(tb)).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetWriteTimeout(wait).
		SetKeepAlive(5 * time.Minute)
	if onMessage != nil {
		opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { onMessage(m.Topic(), m.Payload()) })
	}
	c := paho.NewClient(opts)
	if tk := c.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		tb.Fatalf("connect %s to %s: %v", id, addr, tk.Error())
	}
	return c
}

func subscribe(tb testing.TB, c paho.Client, topic string) {
	tb.Helper()
	if tk := c.Subscribe(topic, 0, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
		tb.Fatalf("subscribe %s: %v", topic, tk.Error())
	}
}

// fleetOf connects liveDevices devices to addr, each with onMessage(i, ...).
func fleetOf(tb testing.TB, addr, host string, onMessage func(i int, topic string, payload []byte)) []paho.Client {
	tb.Helper()
	cs := make([]paho.Client, liveDevices)
	for i := range cs {
		var h func(string, []byte)
		if onMessage != nil {
			h = func(t string, p []byte) { onMessage(i, t, p) }
		}
		cs[i] = dialMQTT(tb, addr, host, deviceID(i), h)
	}
	tb.Cleanup(func() {
		for _, c := range cs {
			c.Disconnect(0)
		}
	})
	return cs
}

// timed runs fn(0) ... fn(n-1) at once and returns how long they all took.
func timed(n int, fn func(i int)) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
	return time.Since(t0)
}

// compare runs the rounds of both sides, alternating, and reports each
// side's rate (n operations a side) and ratio, the emulator's rate over the
// baseline's.
func compare(b *testing.B, n int, baseRun, emuRun func() time.Duration, emuUnit, baseUnit string) {
	b.ResetTimer()
	baseTime, emuTime := alternate(baseRun, emuRun)
	b.StopTimer()
	ops := float64(n * liveRounds / 2)
	b.ReportMetric(ops/emuTime.Seconds(), emuUnit)
	b.ReportMetric(ops/baseTime.Seconds(), baseUnit)
	b.ReportMetric(baseTime.Seconds()/emuTime.Seconds(), "ratio")
}

// alternate runs liveRounds rounds, the baseline first, and returns the
// summed time of each side.
func alternate(base, emu func() time.Duration) (baseTime, emuTime time.Duration) {
	return alternateN(liveRounds, base, emu)
}

func alternateN(rounds int, base, emu func() time.Duration) (baseTime, emuTime time.Duration) {
	for r := range rounds {
		if r%2 == 0 {
			baseTime += base()
		} else {
			emuTime += emu()
		}
	}
	return baseTime, emuTime
}

// BenchmarkRegistryCreate measures PUT /devices/{id} (a new device each)
// from 8 keep-alive HTTPS clients at once, against a chi router over the
// same TLS certificate whose PUT /devices/{id} handler does nothing, taking
// the same requests from 8 clients. It reports ratio, the emulator's
// creates/s over the baseline's requests/s (goal ≥ 0.4).
func BenchmarkRegistryCreate(b *testing.B) {
	const clients, perClient = 8, 400
	e := liveEmulator(b)
	base := liveBase(b, &liveSrv.chi, "chi")
	tok := e.serviceToken(b)
	hc := make([]*http.Client, clients)
	for i := range hc {
		hc[i] = newHTTPClient(b)
	}
	round := 0
	creates := func(addr string) func() time.Duration {
		return func() time.Duration {
			round++
			return timed(clients, func(c int) {
				for i := range perClient {
					id := fmt.Sprintf("reg-%d-%d-%d", round, c, i)
					req, _ := http.NewRequest("PUT", "https://"+addr+"/devices/"+id+"?"+apiVersion, strings.NewReader(`{"deviceId":"`+id+`"}`))
					req.Header.Set("Authorization", tok)
					req.Header.Set("Content-Type", "application/json")
					resp, err := hc[c].Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("PUT %s: %d", id, resp.StatusCode)
						return
					}
				}
			})
		}
	}
	compare(b, clients*perClient, creates(base.https), creates(e.https), "creates/s", "noop/s")
}

// BenchmarkReportedRoundTrip measures reported-property round trips from
// 50 devices at once over MQTT/TLS at QoS 0: each publishes
// $iothub/twin/PATCH/properties/reported/?$rid=N and waits for
// $iothub/twin/res/204/?$rid=N before the next. The baseline is a bare
// mochi broker with a hook that answers each such publish on the response
// topic (scalebase mochi -echo). It reports ratio, the emulator's round
// trips/s over the baseline's (goal ≥ 0.5).
func BenchmarkReportedRoundTrip(b *testing.B) {
	const perDevice = 150
	e := liveEmulator(b)
	base := liveBase(b, &liveSrv.echo, "mochi", "-echo")
	host := e.service(b).HostName
	run := func(addr string) func() time.Duration {
		answers := make([]chan string, liveDevices)
		for i := range answers {
			answers[i] = make(chan string, 4)
		}
		cs := fleetOf(b, addr, host, func(i int, topic string, _ []byte) {
			if strings.HasPrefix(topic, "$iothub/twin/res/") {
				answers[i] <- topic
			}
		})
		for _, c := range cs {
			subscribe(b, c, "$iothub/twin/res/#")
		}
		return func() time.Duration {
			return timed(len(cs), func(i int) {
				c := cs[i]
				for n := range perDevice {
					rid := fmt.Sprintf("%d", n+1)
					c.Publish("$iothub/twin/PATCH/properties/reported/?$rid="+rid, 0, false, fmt.Sprintf(`{"temperature":21.5,"n":%d}`, n))
					select {
					case topic := <-answers[i]:
						if !strings.HasPrefix(topic, "$iothub/twin/res/204/?$rid="+rid+"&") {
							b.Errorf("%s: answer %s to $rid=%s", deviceID(i), topic, rid)
							return
						}
					case <-time.After(wait):
						b.Errorf("%s: no answer to $rid=%s", deviceID(i), rid)
						return
					}
				}
			})
		}
	}
	compare(b, liveDevices*perDevice, run(base.mqtts), run(e.mqtts), "trips/s", "echo/s")
}

// BenchmarkTelemetryQoS1 measures device-to-cloud telemetry at QoS 1 from
// 50 devices at once over MQTT/TLS, each waiting for the PUBACK of one
// message before sending the next, into the emulator with its file store
// (a PUBACK there means the message is durable), against a bare mochi
// broker with no hook and no subscriber acking the same publishes. It
// reports ratio, the emulator's messages/s over the baseline's (goal ≥ 0.6).
func BenchmarkTelemetryQoS1(b *testing.B) {
	const perDevice = 200
	e := liveEmulator(b)
	base := liveBase(b, &liveSrv.mochi, "mochi")
	host := e.service(b).HostName
	payload := bytes.Repeat([]byte("x"), 64)
	run := func(addr string) func() time.Duration {
		cs := fleetOf(b, addr, host, nil)
		return func() time.Duration {
			return timed(len(cs), func(i int) {
				topic := "devices/" + deviceID(i) + "/messages/events/"
				for range perDevice {
					if tk := cs[i].Publish(topic, 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
						b.Errorf("%s: publish: %v", deviceID(i), tk.Error())
						return
					}
				}
			})
		}
	}
	compare(b, liveDevices*perDevice, run(base.mqtts), run(e.mqtts), "msg/s", "mochi-msg/s")
}

// BenchmarkDesiredNotify measures the latency from sending a desired
// properties PATCH /twins/{id} over HTTPS to the device receiving
// $iothub/twin/PATCH/properties/desired/ over MQTT/TLS, one patch at a
// time, against a bridge (scalebase bridge) whose chi handler reads the
// patch and publishes it into a bare mochi broker the device is connected
// to. It reports x-baseline, the emulator's median latency over the
// bridge's (goal ≤ 1.5). The rounds are short and many (10 of 40 patches
// each side, alternating) because the bridge's latency is a tenth of a
// millisecond: a drift of the machine's load during a long round would
// move it more than anything the emulator does.
func BenchmarkDesiredNotify(b *testing.B) {
	const rounds, perRound = 20, 40
	e := liveEmulator(b)
	base := liveBase(b, &liveSrv.bridge, "bridge")
	host := e.service(b).HostName
	tok := e.serviceToken(b)
	run := func(httpsAddr, mqttsAddr string, lat *[]float64) func() time.Duration {
		got := make(chan time.Time, 4)
		c := dialMQTT(b, mqttsAddr, host, deviceID(0), func(topic string, _ []byte) {
			if strings.HasPrefix(topic, "$iothub/twin/PATCH/properties/desired/") {
				got <- time.Now()
			}
		})
		b.Cleanup(func() { c.Disconnect(0) })
		subscribe(b, c, "$iothub/twin/PATCH/properties/desired/#")
		hc := newHTTPClient(b)
		n := 0
		return func() time.Duration {
			t0 := time.Now()
			for range perRound {
				n++
				req, _ := http.NewRequest("PATCH", "https://"+httpsAddr+"/twins/"+deviceID(0)+"?"+apiVersion,
					strings.NewReader(fmt.Sprintf(`{"properties":{"desired":{"n":%d}}}`, n)))
				req.Header.Set("Authorization", tok)
				req.Header.Set("Content-Type", "application/json")
				sent := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("PATCH: %d", resp.StatusCode)
				}
				select {
				case at := <-got:
					*lat = append(*lat, at.Sub(sent).Seconds())
				case <-time.After(wait):
					b.Fatalf("no desired notification within %s", wait)
				}
			}
			return time.Since(t0)
		}
	}
	var emuLat, baseLat []float64
	baseRun, emuRun := run(base.https, base.mqtts, &baseLat), run(e.https, e.mqtts, &emuLat)
	b.ResetTimer()
	alternateN(rounds, baseRun, emuRun)
	b.StopTimer()
	b.ReportMetric(median(emuLat)*1e3, "ms-p50")
	b.ReportMetric(median(baseLat)*1e3, "ms-p50-bridge")
	b.ReportMetric(median(emuLat)/median(baseLat), "x-baseline")
}

// BenchmarkIdleConnRSS opens -scale.conns idle MQTT/TLS connections (each
// a device that connects and then sends nothing) to an emulator of its
// own and measures the growth of its VmRSS per connection, against a bare
// mochi broker over TLS in a process of its own. The devices are imported
// into an empty data directory by an emulator that then stops, and the
// one measured starts over that directory, so that the import's garbage
// is not there to be reused by the connections. It reports x-baseline,
// the emulator's bytes per connection over the broker's (goal ≤ 1.05).
func BenchmarkIdleConnRSS(b *testing.B) {
	k := *connsFlag
	dir := filepath.Join(workDir(b), "idle")
	e := startEmulator(b, dir)
	host := e.service(b).HostName
	e.importFleet(b, "mq", 0, k)
	e.stop(b)
	e = startEmulator(b, dir)
	defer e.stop(b)
	base := startBase(b, "mochi")
	defer base.stop(b)

	perConn := func(pid int, addr string) float64 {
		time.Sleep(time.Second) // let the start settle
		before, err := ProcessRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		cs := make([]paho.Client, k)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < k; i = int(next.Add(1)) - 1 {
					cs[i] = dialMQTT(b, addr, host, deviceID(i), nil)
				}
			})
		}
		wg.Wait()
		time.Sleep(2 * time.Second) // the handshakes' garbage is the server's to collect
		after, err := ProcessRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			if c != nil {
				c.Disconnect(0)
			}
		}
		return float64(after-before) / float64(k)
	}
	b.ResetTimer()
	baseConn := perConn(base.pid(), base.mqtts)
	emuConn := perConn(e.pid(), e.mqtts)
	b.StopTimer()
	b.ReportMetric(emuConn/1024, "KiB/conn")
	b.ReportMetric(baseConn/1024, "KiB/conn-mochi")
	b.ReportMetric(emuConn/baseConn, "x-baseline")
}
