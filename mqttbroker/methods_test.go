package mqttbroker

import (
	"context"
	"errors"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

type callResult struct {
	status  int
	body    []byte
	err     error
	elapsed time.Duration
}

// invokeAsync runs InvokeMethod on its own goroutine.
func invokeAsync(ctx context.Context, b *Broker, deviceID, moduleID, name, payload string, connectTimeout, responseTimeout time.Duration) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		start := time.Now()
		status, body, err := b.InvokeMethod(ctx, deviceID, moduleID, name, []byte(payload), connectTimeout, responseTimeout)
		ch <- callResult{status, body, err, time.Since(start)}
	}()
	return ch
}

// parkedCalls makes b report each time a method call goes (back) to
// waiting for its identity. Set it before the first call.
func parkedCalls(b *Broker) <-chan string {
	ch := make(chan string, 64)
	b.methodWaiting = func(key string) {
		select {
		case ch <- key:
		default: // more than a test waits for; never block the call
		}
	}
	return ch
}

// awaitParked waits for a call to go (back) to waiting, failing the test if
// the call returns instead.
func awaitParked(t *testing.T, parked <-chan string, call <-chan callResult) {
	t.Helper()
	select {
	case <-parked:
	case r := <-call:
		t.Fatalf("returned instead of waiting for the device: %+v", r)
	case <-time.After(waitFor):
		t.Fatalf("the call did not wait for the device within %v", waitFor)
	}
}

// waiting reports whether a call still waits for an answer to rid.
func (p *pendingCalls) waiting(rid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[rid]
	return ok
}

func awaitCall(t *testing.T, ch <-chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * waitFor):
		t.Fatal("InvokeMethod did not return")
		return callResult{}
	}
}

// methodRequest is a request as the device saw it.
type methodRequest struct {
	name    string // the topic segment, unescaped as Python does
	rid     string
	payload string
}

func nextRequest(t *testing.T, c *testClient) methodRequest {
	t.Helper()
	m := c.next(t, "$iothub/methods/POST/")
	return parseRequestTopic(t, m.Topic(), m.Payload())
}

func parseRequestTopic(t *testing.T, topic string, payload []byte) methodRequest {
	t.Helper()
	rest := strings.TrimPrefix(topic, "$iothub/methods/POST/")
	segment, query, ok := strings.Cut(rest, "/?")
	if !ok || strings.Contains(segment, "/") {
		t.Fatalf("method request topic %q", topic)
	}
	name, err := url.PathUnescape(segment)
	if err != nil {
		t.Fatalf("method name segment %q: %v", segment, err)
	}
	rid, err := requestID(query)
	if err != nil {
		t.Fatalf("method request topic %q: %v", topic, err)
	}
	return methodRequest{name: name, rid: rid, payload: string(payload)}
}

func respond(t *testing.T, c *testClient, status int, rid, body string) {
	t.Helper()
	c.publish(t, "$iothub/methods/res/"+strconv.Itoa(status)+"/?$rid="+rid, 0, body)
}

func wantCode(t *testing.T, err error, code errcode.Code) {
	t.Helper()
	if !errcode.Is(err, code) {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func TestInvokeMethod(t *testing.T) {
	hub := newFakeHub()
	devKey, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)
	dev := mustDial(t, addr, deviceConfig("dev1", devKey))
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))
	dev.subscribe(t, filterMethods, 0)
	mod.subscribe(t, filterMethods, 1)

	tests := []struct {
		name           string
		c              *testClient
		moduleID       string
		method         string
		payload        string
		status         int
		responseBody   string
		wantTopicStart string
	}{
		{"device, JSON payload", dev, "", "reboot", `{"delay":5}`, 200, `{"done":true}`, "$iothub/methods/POST/reboot/?$rid="},
		{"null payload, empty answer", dev, "", "ping", `null`, 204, ``, "$iothub/methods/POST/ping/?$rid="},
		{"device-chosen status", dev, "", "fail", `"x"`, 500, `{"why":"broken"}`, "$iothub/methods/POST/fail/?$rid="},
		{"module", mod, "mod1", "getConfig", `[1,2]`, 200, `{"v":1}`, "$iothub/methods/POST/getConfig/?$rid="},
		{"name with separators and wildcards", dev, "", "a/b?c#d+e%f g", `{}`, 200, `1`, "$iothub/methods/POST/a%2Fb%3Fc%23d%2Be%25f g/?$rid="},
		{"unicode name", dev, "", "größe", `{}`, 200, `2`, "$iothub/methods/POST/größe/?$rid="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := invokeAsync(context.Background(), b, "dev1", tt.moduleID, tt.method, tt.payload, 0, waitFor)
			m := tt.c.next(t, "$iothub/methods/POST/")
			if !strings.HasPrefix(m.Topic(), tt.wantTopicStart) {
				t.Fatalf("request topic %q, want it to start %q", m.Topic(), tt.wantTopicStart)
			}
			if m.Qos() != 0 {
				t.Errorf("request QoS %d, want 0", m.Qos())
			}
			req := parseRequestTopic(t, m.Topic(), m.Payload())
			if req.name != tt.method || req.payload != tt.payload {
				t.Fatalf("device saw %+v, want method %q payload %s", req, tt.method, tt.payload)
			}
			respond(t, tt.c, tt.status, req.rid, tt.responseBody)
			r := awaitCall(t, call)
			if r.err != nil {
				t.Fatalf("InvokeMethod: %v", r.err)
			}
			if r.status != tt.status || string(r.body) != tt.responseBody {
				t.Errorf("got %d %q, want %d %q", r.status, r.body, tt.status, tt.responseBody)
			}
		})
	}
}

func TestInvokeMethodNotReachable(t *testing.T) {
	hub := newFakeHub()
	key, modKey := hub.add("dev1"), hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)

	// Offline.
	if _, _, err := b.InvokeMethod(context.Background(), "dev1", "", "m", nil, 0, waitFor); !errcode.Is(err, errcode.DeviceNotOnline) {
		t.Fatalf("offline: %v, want DeviceNotOnline", err)
	}
	// Connected, subscribed to everything but methods.
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterTwinResponses, 1)
	c.subscribe(t, filterDesired, 1)
	c.subscribe(t, "devices/dev1/messages/devicebound/#", 1)
	_, _, err := b.InvokeMethod(context.Background(), "dev1", "", "m", nil, 0, waitFor)
	wantCode(t, err, errcode.DeviceNotOnline)
	// The device's module subscribing does not make the device reachable.
	mod := mustDial(t, addr, deviceConfig("dev1/mod1", modKey))
	mod.subscribe(t, filterMethods, 1)
	_, _, err = b.InvokeMethod(context.Background(), "dev1", "", "m", nil, 0, waitFor)
	wantCode(t, err, errcode.DeviceNotOnline)
	c.quietPushes(t, b)

	// Waiting that runs out.
	r := awaitCall(t, invokeAsync(context.Background(), b, "dev1", "", "m", "{}", 300*time.Millisecond, waitFor))
	wantCode(t, r.err, errcode.DeviceNotOnline)
	if r.elapsed < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the connect timeout", r.elapsed)
	}
}

func TestInvokeMethodBadArguments(t *testing.T) {
	b, err := New(newFakeHub(), Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	tests := []struct {
		name                  string
		deviceID, moduleID, m string
		connect, response     time.Duration
	}{
		{"empty method name", "dev1", "", "", 0, time.Second},
		{"empty device id", "", "", "m", 0, time.Second},
		{"slash in device id", "a/b", "", "m", 0, time.Second},
		{"slash in module id", "a", "b/c", "m", 0, time.Second},
		{"negative connect timeout", "dev1", "", "m", -time.Second, time.Second},
		{"zero response timeout", "dev1", "", "m", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := b.InvokeMethod(context.Background(), tt.deviceID, tt.moduleID, tt.m, nil, tt.connect, tt.response)
			wantCode(t, err, errcode.ArgumentInvalid)
		})
	}
}

func TestInvokeMethodWaitsForConnectAndSubscribe(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	// The connect timeout is generous: only the order of events is under
	// test, and a loaded machine may take seconds to connect and subscribe.
	parked := parkedCalls(b)
	call := invokeAsync(context.Background(), b, "dev1", "", "hello", `{"a":1}`, 3*waitFor, waitFor)
	awaitParked(t, parked, call) // offline
	c := mustDial(t, addr, deviceConfig("dev1", key))
	// The connection wakes the call, which looks again and, finding no
	// methods subscription, goes back to waiting.
	awaitParked(t, parked, call)
	c.subscribe(t, filterMethods, 1)
	req := nextRequest(t, c)
	respond(t, c, 200, req.rid, `"hi"`)
	if r := awaitCall(t, call); r.err != nil || r.status != 200 || string(r.body) != `"hi"` {
		t.Fatalf("got %+v", r)
	}
}

// A clean-session=0 reconnect inherits the methods subscription, which is
// enough for a waiting call.
func TestInvokeMethodAfterSessionResume(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	first := mustDial(t, addr, deviceConfig("dev1", key))
	first.subscribe(t, filterMethods, 1)
	first.Disconnect(0)
	testkit.EventuallyWithin(t, waitFor, "first connection settled", func() bool { return servedConns(b) == 0 })

	call := invokeAsync(context.Background(), b, "dev1", "", "m", `{}`, 3*waitFor, waitFor)
	second := mustDial(t, addr, deviceConfig("dev1", key))
	req := nextRequest(t, second)
	respond(t, second, 200, req.rid, `{}`)
	if r := awaitCall(t, call); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestInvokeMethodTimesOut(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	c.subscribe(t, filterTwinResponses, 1) // for stillUp

	const timeout = 300 * time.Millisecond
	call := invokeAsync(context.Background(), b, "dev1", "", "slow", `{}`, 0, timeout)
	req := nextRequest(t, c)
	r := awaitCall(t, call)
	wantCode(t, r.err, errcode.GatewayTimeout)
	if r.elapsed < timeout {
		t.Errorf("timed out after %v, before %v", r.elapsed, timeout)
	}

	// The late answer is dropped; the connection and later calls are fine.
	respond(t, c, 200, req.rid, `"late"`)
	c.stillUp(t)
	call = invokeAsync(context.Background(), b, "dev1", "", "fast", `{}`, 0, waitFor)
	next := nextRequest(t, c)
	if next.rid == req.rid {
		t.Fatalf("rid %q reused", next.rid)
	}
	respond(t, c, 200, req.rid, `"late again"`) // still ignored
	respond(t, c, 201, next.rid, `"on time"`)
	if r := awaitCall(t, call); r.err != nil || r.status != 201 || string(r.body) != `"on time"` {
		t.Fatalf("got %+v", r)
	}
}

func TestInvokeMethodConcurrentCallsMatchedByRID(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)

	const n = 20
	calls := make([]<-chan callResult, n)
	for i := range n {
		calls[i] = invokeAsync(context.Background(), b, "dev1", "", "m"+strconv.Itoa(i), strconv.Itoa(i), 0, waitFor)
	}
	reqs := make([]methodRequest, 0, n)
	seen := map[string]bool{}
	for range n {
		req := nextRequest(t, c)
		if seen[req.rid] {
			t.Fatalf("rid %q used twice", req.rid)
		}
		seen[req.rid] = true
		reqs = append(reqs, req)
	}
	// Answer in reverse order, each with what identifies its request.
	for i := len(reqs) - 1; i >= 0; i-- {
		req := reqs[i]
		i, err := strconv.Atoi(req.payload)
		if err != nil || req.name != "m"+req.payload {
			t.Fatalf("request %+v", req)
		}
		respond(t, c, 200+i, req.rid, fmt.Sprintf(`{"for":%q}`, req.name))
	}
	for i, call := range calls {
		r := awaitCall(t, call)
		if r.err != nil || r.status != 200+i || string(r.body) != fmt.Sprintf(`{"for":"m%d"}`, i) {
			t.Errorf("call %d got %d %s (%v)", i, r.status, r.body, r.err)
		}
	}
}

func TestMethodResponseFromAnotherDeviceIsIgnored(t *testing.T) {
	hub := newFakeHub()
	key1, key2 := hub.add("dev1"), hub.add("dev2")
	b, addr := startBroker(t, hub)
	c1 := mustDial(t, addr, deviceConfig("dev1", key1))
	c2 := mustDial(t, addr, deviceConfig("dev2", key2))
	for _, c := range []*testClient{c1, c2} {
		c.subscribe(t, filterMethods, 1)
		c.subscribe(t, filterTwinResponses, 1) // for the barriers
		c.subscribe(t, filterDesired, 1)
	}

	call := invokeAsync(context.Background(), b, "dev1", "", "m", `{}`, 0, waitFor)
	req := nextRequest(t, c1)
	c2.quietPushes(t, b) // dev2 never sees dev1's request
	respond(t, c2, 200, req.rid, `"forged"`)
	c2.stillUp(t) // the forged response has been handled
	if s := b.current("dev1"); s == nil || !s.calls.waiting(req.rid) {
		t.Fatal("dev1's call no longer waits: completed by another device's response")
	}
	select {
	case r := <-call:
		t.Fatalf("call completed by another device's response: %+v", r)
	default:
	}
	respond(t, c1, 200, req.rid, `"genuine"`)
	if r := awaitCall(t, call); r.err != nil || string(r.body) != `"genuine"` {
		t.Fatalf("got %+v", r)
	}
	c1.stillUp(t)
	c2.stillUp(t)
}

func TestInvokeMethodConnectionLost(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	t.Run("device disconnects", func(t *testing.T) {
		c := mustDial(t, addr, deviceConfig("dev1", key))
		c.subscribe(t, filterMethods, 1)
		call := invokeAsync(context.Background(), b, "dev1", "", "m", `{}`, 0, 10*waitFor)
		nextRequest(t, c)
		c.Disconnect(0)
		r := awaitCall(t, call)
		wantCode(t, r.err, errcode.DeviceNotOnline)
	})
	t.Run("taken over by a reconnect", func(t *testing.T) {
		first := mustDial(t, addr, deviceConfig("dev1", key))
		first.subscribe(t, filterMethods, 1)
		call := invokeAsync(context.Background(), b, "dev1", "", "m", `{}`, 0, 10*waitFor)
		req := nextRequest(t, first)
		second := mustDial(t, addr, deviceConfig("dev1", key))
		r := awaitCall(t, call)
		wantCode(t, r.err, errcode.DeviceNotOnline)
		second.subscribe(t, filterTwinResponses, 1) // for stillUp
		respond(t, second, 200, req.rid, `{}`)      // unknown on this connection: dropped
		second.stillUp(t)
	})
}

func TestInvokeMethodContextCancelled(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	parked := parkedCalls(b)
	ctx, cancel := context.WithCancel(context.Background())
	call := invokeAsync(ctx, b, "dev1", "", "m", `{}`, waitFor, waitFor) // waiting for the device
	awaitParked(t, parked, call)
	cancel()
	if r := awaitCall(t, call); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("waiting for the device: %v, want context.Canceled", r.err)
	}

	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	c.subscribe(t, filterTwinResponses, 1) // for stillUp
	ctx, cancel = context.WithCancel(context.Background())
	call = invokeAsync(ctx, b, "dev1", "", "m", `{}`, 0, waitFor) // waiting for the answer
	req := nextRequest(t, c)
	cancel()
	if r := awaitCall(t, call); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("waiting for the answer: %v, want context.Canceled", r.err)
	}
	respond(t, c, 200, req.rid, `{}`) // dropped
	c.stillUp(t)
}

func TestInvokeMethodBrokerClosed(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, filterMethods, 1)
	answered := invokeAsync(context.Background(), b, "dev1", "", "m", `{}`, 0, 10*waitFor)
	waiting := invokeAsync(context.Background(), b, "dev2", "", "m", `{}`, 10*waitFor, 10*waitFor)
	nextRequest(t, c)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, awaitCall(t, answered).err, errcode.DeviceNotOnline)
	wantCode(t, awaitCall(t, waiting).err, errcode.DeviceNotOnline)
}

func TestEscapeTopicSegment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"reboot", "reboot"},
		{"get-config_v1.2~x", "get-config_v1.2~x"},
		{"a b&c=d$e", "a b&c=d$e"},
		{"a/b", "a%2Fb"},
		{"?#+%", "%3F%23%2B%25"},
		{"tab\tnul\x00del\x7f", "tab%09nul%00del%7F"},
		{"größe", "größe"},
		{"bad\xffutf8", "bad%FFutf8"},
	}
	for _, tt := range tests {
		got := escapeTopicSegment(tt.in)
		if got != tt.want {
			t.Errorf("escapeTopicSegment(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := url.PathUnescape(got); err != nil || back != tt.in {
			t.Errorf("unescaping %q = %q, %v; want %q", got, back, err, tt.in)
		}
	}
	if got := methodRequestTopic("a/b", "7"); got != "$iothub/methods/POST/a%2Fb/?$rid=7" {
		t.Errorf("methodRequestTopic = %q", got)
	}
}

func FuzzEscapeTopicSegment(f *testing.F) {
	for _, seed := range []string{"reboot", "a/b?c#d+e%f", "größe", "bad\xffutf8\x00", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := escapeTopicSegment(name)
		if strings.ContainsAny(got, "/?#+\x00") || !utf8.ValidString(got) {
			t.Fatalf("escapeTopicSegment(%q) = %q: not one valid topic segment", name, got)
		}
		if back, err := url.PathUnescape(got); err != nil || back != name {
			t.Fatalf("escapeTopicSegment(%q) = %q, which unescapes to %q (%v)", name, got, back, err)
		}
	})
}
