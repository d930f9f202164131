package mqttbroker

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
)

// faultTopic is the telemetry topic of a fault-injection message.
func faultTopic(t *testing.T, clientID string, typ faults.FaultType, delay, duration string) string {
	t.Helper()
	props := map[string]string{
		faults.PropOperationType: string(typ),
		faults.PropCloseReason:   "boom",
		faults.PropDelay:         delay,
	}
	if duration != "" {
		props[faults.PropDuration] = duration
	}
	bag, err := encodePropertyBag(nil, props)
	if err != nil {
		t.Fatal(err)
	}
	deviceID, moduleID, _ := strings.Cut(clientID, "/")
	if moduleID != "" {
		return "devices/" + deviceID + "/modules/" + moduleID + "/messages/events/" + bag
	}
	return "devices/" + deviceID + "/messages/events/" + bag
}

// nextTelemetry waits for the hub to receive a message.
func nextTelemetry(t *testing.T, hub *receivingHub) receivedTelemetry {
	t.Helper()
	select {
	case got := <-hub.telemetry:
		return got
	case <-time.After(waitFor):
		t.Fatal("no telemetry reached the hub")
		return receivedTelemetry{}
	}
}

// connackCode connects and returns the CONNACK return code.
func connackCode(t *testing.T, addr string, cfg clientConfig) byte {
	t.Helper()
	c, tok := dial(t, addr, cfg)
	if tok.Error() == nil {
		c.Disconnect(0)
	}
	return tok.ReturnCode()
}

// connectWithin retries until a CONNECT is accepted, failing after waitFor.
func connectWithin(t *testing.T, addr string, cfg clientConfig) *testClient {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, tok := dial(t, addr, cfg)
		if tok.Error() == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after %v: return code %d", waitFor, tok.ReturnCode())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twinStatus sends a twin GET and returns the response status and errorCode (0 on success).
func twinStatus(t *testing.T, c *testClient, rid string) (status, errorCode int) {
	t.Helper()
	c.publish(t, "$iothub/twin/GET/?$rid="+rid, 1, " ")
	m := c.next(t, "$iothub/twin/res/")
	rest, ok := strings.CutPrefix(m.Topic(), "$iothub/twin/res/")
	statusText, query, _ := strings.Cut(rest, "/?")
	if !ok || query != "$rid="+rid {
		t.Fatalf("twin response topic %q", m.Topic())
	}
	status, _ = strconv.Atoi(statusText)
	if status >= 300 {
		var body mqttErrorBody
		if err := json.Unmarshal(m.Payload(), &body); err != nil {
			t.Fatalf("error body %s: %v", m.Payload(), err)
		}
		errorCode = body.ErrorCode
	}
	return status, errorCode
}

// healthy checks the identity works end to end: telemetry acknowledged, twin read.
func healthy(t *testing.T, c *testClient, clientID string) {
	t.Helper()
	deviceID, moduleID, _ := strings.Cut(clientID, "/")
	topic := "devices/" + deviceID + "/messages/events/"
	if moduleID != "" {
		topic = "devices/" + deviceID + "/modules/" + moduleID + "/messages/events/"
	}
	c.publish(t, topic, 1, "after")
	if status, code := twinStatus(t, c, "ok"); status != 200 {
		t.Fatalf("twin GET after the fault: %d (errorCode %d)", status, code)
	}
}

// Every value of AzIoTHub_FaultOperationType: the fault message is
// acknowledged and kept as telemetry, the client sees the fault's effect
// over MQTT, and the identity works again afterwards.
func TestFaultInjectionTelemetry(t *testing.T) {
	const delay = 200 * time.Millisecond
	const duration = time.Second
	type window int
	const (
		none window = iota
		authError
		throttled
		quota
	)
	tests := []struct {
		typ    faults.FaultType
		closes bool
		window window
	}{
		{faults.KillTcp, true, none},
		{faults.ShutDownMqtt, true, none},
		{faults.KillAmqpConnection, true, none},
		{faults.KillAmqpSession, true, none},
		{faults.ShutDownAmqp, true, none},
		{faults.KillAmqpCBSLinkReq, false, none},
		{faults.KillAmqpCBSLinkResp, false, none},
		{faults.KillAmqpD2CLink, false, none},
		{faults.KillAmqpC2DLink, false, none},
		{faults.KillAmqpTwinLinkReq, false, none},
		{faults.KillAmqpTwinLinkResp, false, none},
		{faults.KillAmqpMethodReqLink, false, none},
		{faults.KillAmqpMethodRespLink, false, none},
		{faults.InvokeAuthError, true, authError},
		{faults.InvokeThrottling, true, throttled},
		{faults.InvokeMaxMessageQuota, true, quota},
	}
	if len(tests) != len(faults.FaultTypes()) {
		t.Fatalf("%d cases for %d fault types", len(tests), len(faults.FaultTypes()))
	}
	for _, tt := range tests {
		for _, clientID := range []string{"dev1", "dev1/mod1"} {
			t.Run(string(tt.typ)+"/"+clientID, func(t *testing.T) {
				t.Parallel()
				hub := newReceivingHub()
				key := hub.add(clientID)
				other := hub.add("bystander")
				_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
				cfg := deviceConfig(clientID, key)
				c := mustDial(t, addr, cfg)
				c.subscribe(t, "$iothub/twin/res/#", 1)
				bystander := mustDial(t, addr, deviceConfig("bystander", other))
				bystander.subscribe(t, "$iothub/twin/res/#", 1) // for stillUp

				sent := time.Now()
				c.publish(t, faultTopic(t, clientID, tt.typ, "0.2", "1"), 1, "fault") // acknowledged
				got := nextTelemetry(t, hub)
				if got.Msg.Properties[faults.PropOperationType] != string(tt.typ) || got.ID.key() != clientID {
					t.Fatalf("the fault message was not kept as telemetry: %+v", got)
				}

				if !tt.closes {
					// Once the fault message has been handled (stillUp's barrier
					// is answered after it) no drop is scheduled: nothing will
					// close the connection after the delay either.
					c.stillUp(t)
					for _, f := range inj.Active() {
						if f.Kind == faults.KindDrop {
							t.Fatalf("a drop was scheduled: %+v", f)
						}
					}
					healthy(t, c, clientID)
					return
				}
				c.waitLost(t)
				if elapsed := time.Since(sent); elapsed < delay {
					t.Errorf("closed after %v, before the %v delay", elapsed, delay)
				}

				switch tt.window {
				case authError:
					if code := connackCode(t, addr, cfg); code != 5 {
						t.Fatalf("reconnect during the fault: CONNACK %d, want 5", code)
					}
				case throttled, quota:
					c = mustDial(t, addr, cfg) // reconnects are accepted
					wantStatus, wantCode := 429, 429001
					if tt.window == quota {
						wantStatus, wantCode = 403, 403002
					}
					if status, code := twinStatus(t, c, "f1"); status != wantStatus || code != wantCode {
						t.Fatalf("twin GET during the fault: %d %d, want %d %d", status, code, wantStatus, wantCode)
					}
					// A refused publish can only close the connection.
					deviceID, moduleID, _ := strings.Cut(clientID, "/")
					topic := "devices/" + deviceID + "/messages/events/"
					if moduleID != "" {
						topic = "devices/" + deviceID + "/modules/" + moduleID + "/messages/events/"
					}
					c.Publish(topic, 1, false, "refused")
					c.waitLost(t)
				}
				// The bystander never noticed.
				bystander.stillUp(t)

				if tt.window == throttled || tt.window == quota {
					// Connects are accepted all along; operations work once the
					// window ends (on the real clock, as the broker's timers run).
					testkit.EventuallyWithin(t, waitFor, "the fault's window ends", func() bool { return len(inj.Active()) == 0 })
				}
				c = connectWithin(t, addr, cfg)
				c.subscribe(t, "$iothub/twin/res/#", 1)
				if tt.window == authError && time.Since(sent) < delay+duration-100*time.Millisecond {
					t.Errorf("reconnected after %v, inside the fault's window", time.Since(sent))
				}
				healthy(t, c, clientID)
				if m := nextTelemetry(t, hub); string(m.Msg.Body) != "after" {
					t.Errorf("telemetry after recovery = %q; a refused message reached the hub", m.Msg.Body)
				}
			})
		}
	}
}

// KillTcp resets the connection; ShutDownMqtt closes it in order.
func TestFaultCloseModes(t *testing.T) {
	tests := []struct {
		typ   faults.FaultType
		reset bool
	}{
		{faults.KillTcp, true},
		{faults.KillAmqpConnection, true},
		{faults.ShutDownMqtt, false},
		{faults.InvokeAuthError, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			hub := newFakeHub()
			key := hub.add("dev1")
			_, addr := startBroker(t, hub)
			c := dialRaw(t, addr)
			c.connectDevice("dev1", key)
			c.publish(faultTopic(t, "dev1", tt.typ, "0.1", ""), 1, 7, "")
			if ack := c.mustRead(4); ack.PacketID != 7 { // PUBACK first
				t.Fatalf("PUBACK for packet %d", ack.PacketID)
			}
			_, err := c.read(waitFor)
			switch {
			case tt.reset && !errors.Is(err, syscall.ECONNRESET):
				t.Fatalf("read after KillTcp: %v, want connection reset", err)
			case !tt.reset && !errors.Is(err, io.EOF):
				t.Fatalf("read after a clean close: %v, want EOF", err)
			}
		})
	}
}

// The SDKs' tests send whole seconds, as text.
func TestFaultWholeSecondsAsTheSDKsSendThem(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	sent := time.Now()
	c.publish(t, faultTopic(t, "dev1", faults.KillTcp, "1", "5"), 1, "")
	c.waitLost(t)
	if elapsed := time.Since(sent); elapsed < time.Second {
		t.Fatalf("closed after %v, before DelayInSecs=1", elapsed)
	}
	mustDial(t, addr, deviceConfig("dev1", key)) // KillTcp has no lasting part
}

func TestFaultMessagesThatCannotBeHonouredAreTelemetryOnly(t *testing.T) {
	hub := newReceivingHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1) // for stillUp
	for _, topic := range []string{
		faultTopic(t, "dev1", "ExplodeHub", "0", ""),
		faultTopic(t, "dev1", faults.KillTcp, "-1", ""),
		faultTopic(t, "dev1", faults.InvokeAuthError, "0", "forever"),
	} {
		c.publish(t, topic, 1, "x")
		nextTelemetry(t, hub)
	}
	c.stillUp(t)
	if code := connackCode(t, addr, deviceConfig("dev1", key)); code != 0 {
		t.Fatalf("CONNACK %d after ignored faults", code)
	}
}

func TestClearCancelsAScheduledDrop(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1) // for stillUp
	c.publish(t, faultTopic(t, "dev1", faults.KillTcp, "0.3", ""), 1, "")
	// The drop is scheduled just after the PUBACK is written.
	testkit.EventuallyWithin(t, waitFor, "the scheduled drop is listed", func() bool {
		active := inj.Active()
		return len(active) == 1 && active[0].Kind == faults.KindDrop && active[0].DeviceID == "dev1"
	})
	inj.Clear()
	// The drop's own real-time timer is under test: it must find the drop
	// cleared when it fires. Nothing can be observed when it does, so this
	// waits out its 0.3 s (bounded, and only once) before the barrier.
	time.Sleep(300 * time.Millisecond)
	c.stillUp(t)
}

// Under InvokeThrottling a method response closes the connection: the
// caller learns the device went away.
func TestThrottledDeviceMethodResponse(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/methods/POST/#", 0)
	if _, err := inj.Add(faults.Spec{Kind: faults.KindThrottleDevice, DeviceID: "dev1", Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	call := invokeAsync(context.Background(), b, "dev1", "", "reboot", "null", 0, waitFor)
	req := nextRequest(t, c)
	c.Publish("$iothub/methods/res/200/?$rid="+req.rid, 0, false, "{}")
	c.waitLost(t)
	if r := awaitCall(t, call); !errcode.Is(r.err, errcode.DeviceNotOnline) {
		t.Fatalf("call = %+v, want DeviceNotOnline", r)
	}
}

func TestInjectorRefuseConnects(t *testing.T) {
	hub := newFakeHub()
	key, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	if _, err := inj.RefuseConnects("dev1", "", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if code := connackCode(t, addr, deviceConfig("dev1", key)); code != 3 {
		t.Fatalf("CONNACK %d, want 3 (server unavailable)", code)
	}
	if code := connackCode(t, addr, deviceConfig("dev1/mod1", modKey)); code != 0 {
		t.Fatalf("the device's module: CONNACK %d, want 0", code)
	}
	if _, err := inj.Add(faults.Spec{Kind: faults.KindRefuseConnects, DeviceID: "dev1", ModuleID: "mod1", ConnackCode: 5, Duration: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if code := connackCode(t, addr, deviceConfig("dev1/mod1", modKey)); code != 5 {
		t.Fatalf("module: CONNACK %d, want 5", code)
	}
	connectWithin(t, addr, deviceConfig("dev1", key))
	connectWithin(t, addr, deviceConfig("dev1/mod1", modKey))
	if events := hub.Events(); len(events) == 0 || events[0].Kind != "connected" {
		t.Fatalf("refused connects reached the hub: %v", events)
	}
}

func TestInjectorDropConnection(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	inj.DropConnection("dev1", "")
	c.waitLost(t)

	// A drop submitted as the admin endpoint submits it goes through the broker too.
	c = mustDial(t, addr, deviceConfig("dev1", key))
	if _, dropped, err := inj.Submit(strings.NewReader(`{"fault":"drop","deviceId":"dev1"}`)); err != nil || !dropped {
		t.Fatalf("drop: dropped %v, %v", dropped, err)
	}
	c.waitLost(t)
	c = mustDial(t, addr, deviceConfig("dev1", key)) // no lasting effect
	c.subscribe(t, "$iothub/twin/res/#", 1)
	c.stillUp(t)
}

func TestInjectorDelayTwin(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	// The fault's window runs on a manual clock; the delay it imposes is the
	// broker's own real-time timer.
	clock := testkit.NewClock()
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{Now: clock.Now})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)
	const delay = 400 * time.Millisecond
	if _, err := inj.DelayTwin("dev1", "", delay, time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=p1", 1, `{"a":1}`) // acknowledged at once
	if elapsed := time.Since(start); elapsed >= delay {
		t.Errorf("PUBACK took %v: only the response is delayed", elapsed)
	}
	// The patch is applied at once (just after its PUBACK): the hub has it
	// well before the response goes out.
	testkit.EventuallyWithin(t, waitFor, "the patch is applied", func() bool {
		doc, _ := hub.GetTwin(context.Background(), Identity{DeviceID: "dev1"})
		return strings.Contains(string(doc), `"a":1`)
	})
	if elapsed := time.Since(start); elapsed >= delay {
		t.Errorf("patch applied only after %v", elapsed)
	}
	m := c.next(t, "$iothub/twin/res/")
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("response after %v, want at least %v", elapsed, delay)
	}
	if m.Topic() != "$iothub/twin/res/204/?$rid=p1&$version=2" {
		t.Errorf("response topic %q", m.Topic())
	}
	clock.Advance(time.Second) // the fault ends
	if active := inj.Active(); len(active) != 0 {
		t.Fatalf("faults still in effect: %+v", active)
	}
	start = time.Now()
	if status, _ := twinStatus(t, c, "g1"); status != 200 {
		t.Fatalf("GET: %d", status)
	}
	if elapsed := time.Since(start); elapsed >= delay {
		t.Errorf("response after the fault took %v", elapsed)
	}
}

// A delayed response is dropped, not sent to a later connection, when its
// connection ends first.
func TestDelayedTwinResponseDiesWithItsConnection(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)
	if _, err := inj.DelayTwin("dev1", "", 300*time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
	c.publish(t, "$iothub/twin/GET/?$rid=lost", 1, " ")
	c.Disconnect(0)
	c2 := mustDial(t, addr, deviceConfig("dev1", key)) // inherits the subscription
	// The barrier's own answer is held for the same delay, on a timer started
	// after the lost one's: had the lost answer been sent to c2, it would
	// have been queued first.
	c2.quiet(t)
}

func TestInjectorThrottleClasses(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr, inj := startBrokerWithFaults(t, hub, faults.Options{})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)

	reads, err := inj.Throttle(faults.TwinReads, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, code := twinStatus(t, c, "r1"); status != 429 || code != 429001 {
		t.Fatalf("GET under a twinReads throttle: %d %d", status, code)
	}
	c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=u1", 1, `{"a":1}`)
	if m := c.next(t, "$iothub/twin/res/"); !strings.HasPrefix(m.Topic(), "$iothub/twin/res/204/") {
		t.Fatalf("PATCH under a twinReads throttle: %s", m.Topic())
	}
	inj.Remove(reads.ID)

	if _, err := inj.Throttle(faults.TwinUpdates, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=u2", 1, `{"a":2}`)
	m := c.next(t, "$iothub/twin/res/")
	if !strings.HasPrefix(m.Topic(), "$iothub/twin/res/429/?$rid=u2") || !strings.Contains(string(m.Payload()), "429001") {
		t.Fatalf("PATCH under a twinUpdates throttle: %s %s", m.Topic(), m.Payload())
	}
	doc, _ := hub.GetTwin(context.Background(), Identity{DeviceID: "dev1"})
	if !strings.Contains(string(doc), `"a":1`) {
		t.Fatalf("a throttled patch was applied: %s", doc)
	}

	if _, err := inj.Throttle(faults.D2CSends, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Publish("devices/dev1/messages/events/", 1, false, "x")
	c.waitLost(t)

	if _, err := inj.Throttle(faults.DeviceConnections, time.Minute); err != nil {
		t.Fatal(err)
	}
	if code := connackCode(t, addr, deviceConfig("dev1", key)); code != 3 {
		t.Fatalf("CONNACK %d under a deviceConnections throttle, want 3", code)
	}
	inj.Clear()
	c = mustDial(t, addr, deviceConfig("dev1", key))
	c.publish(t, "devices/dev1/messages/events/", 1, "x")
}

// One S1 unit: 100 new connections and 100 messages in a burst, then the
// broker refuses (CONNACK 3) or closes. The clock is frozen: nothing refills.
func TestTierLimitsOnTheBroker(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	frozen := time.Now()
	l, err := faults.NewLimiter("S1")
	if err != nil {
		t.Fatal(err)
	}
	_, addr, _ := startBrokerWithFaults(t, hub, faults.Options{Now: func() time.Time { return frozen }, Limiter: l})

	c := dialRaw(t, addr)
	c.connectDevice("dev1", key) // connection 1
	for i := range 100 {
		c.publish("devices/dev1/messages/events/", 1, uint16(i+1), "x")
		if ack := c.mustRead(4); int(ack.PacketID) != i+1 {
			t.Fatalf("PUBACK %d for message %d", ack.PacketID, i+1)
		}
	}
	c.publish("devices/dev1/messages/events/", 1, 101, "x")
	c.expectClosed()

	for i := 2; i <= 100; i++ { // bad credentials still count
		r := dialRaw(t, addr)
		if code := r.connect(4, "dev1", deviceUsername("dev1"), "wrong"); code != 5 {
			t.Fatalf("connection %d: CONNACK %d, want 5", i, code)
		}
	}
	r := dialRaw(t, addr)
	if code := r.connect(4, "dev1", deviceUsername("dev1"), sasToken(testHost, "dev1", key, hourAhead())); code != 3 {
		t.Fatalf("connection 101: CONNACK %d, want 3", code)
	}
}

// Over WebSockets, ShutDownMqtt sends a close frame and KillTcp does not.
func TestFaultCloseModesOverWebSockets(t *testing.T) {
	for _, tt := range []struct {
		typ        faults.FaultType
		closeFrame bool
	}{
		{faults.ShutDownMqtt, true},
		{faults.KillTcp, false},
	} {
		t.Run(string(tt.typ), func(t *testing.T) {
			hub := newFakeHub()
			key := hub.add("dev1")
			_, url := startWebSocket(t, hub)
			ws, _, err := dialWS(t, url, "mqtt")
			if err != nil {
				t.Fatal(err)
			}
			c := newRawClient(t, newWSConn(ws))
			c.connectDevice("dev1", key)
			c.publish(faultTopic(t, "dev1", tt.typ, "0.1", ""), 1, 3, "")
			c.mustRead(4)
			_, err = c.read(waitFor)
			if gotFrame := errors.Is(err, io.EOF); gotFrame != tt.closeFrame { // wsConn reads a close frame as EOF
				t.Fatalf("read after %s: %v; close frame %v, want %v", tt.typ, err, gotFrame, tt.closeFrame)
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open: %v", err)
			}
		})
	}
}

// startBrokerWithFaults starts a broker on an injector built from opts whose
// drops reach that broker, as the emulator's device link does.
func startBrokerWithFaults(t testing.TB, hub Hub, opts faults.Options) (*Broker, string, *faults.Injector) {
	t.Helper()
	var b *Broker // set below, before any device can connect
	opts.Dropper = faults.DropperFunc(func(deviceID, moduleID string) { b.Disconnect(deviceID, moduleID) })
	inj, err := faults.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, addr := startBrokerWith(t, hub, Options{Logger: testLogger(), Faults: inj})
	return b, addr, inj
}
