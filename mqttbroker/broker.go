package mqttbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/iothub-emulator/iothub-emulator/faults"
)

const (
	// hubTimeout bounds every call into the Hub.
	hubTimeout = 30 * time.Second
	// connectTimeout bounds the time from accept to a complete CONNECT
	// (TLS handshake and authentication included); mochi has no such limit.
	connectTimeout = 30 * time.Second
	// maxKeepalive is the largest client keep-alive honoured; 1.5 times it is
	// IoT Hub's 1767 s idle cap. A client asking for 0 (none) gets it too.
	maxKeepalive = 1178
	// maxTelemetrySize is IoT Hub's limit on a device-to-cloud message, as
	// d2c.MeteredSize counts it.
	maxTelemetrySize = d2c.MaxMessageSize
	// maxPacketSize bounds one inbound packet, so mochi refuses a hopelessly
	// large one before buffering it. The margin over maxTelemetrySize is one
	// MQTT string's worth: a telemetry topic's ids and fixed parts, or a
	// CONNECT's username, password and client id around a full-size Will.
	// Anything between the two limits reaches the broker's own check.
	maxPacketSize = maxTelemetrySize + 64*1024
	// sessionQueue is how many asynchronous publishes may wait for one
	// connection before it counts as stuck and is closed. It has room for a
	// full C2D queue (50) delivered at once, plus notifications.
	sessionQueue = 256
)

// DefaultSessionExpiry is how long a disconnected clean-session=0 session
// is kept by default. It is long enough for a device to come back after a
// network drop or a restart with its subscriptions intact, which the Node
// SDK relies on: it does not subscribe again after reconnecting.
const DefaultSessionExpiry = time.Hour

// ErrClosed is returned by Serve and ServeConn after Close.
var ErrClosed = errors.New("mqttbroker: broker closed")

// Options configure a Broker.
type Options struct {
	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now
	// Faults are the faults (and tier throttles) the broker applies on
	// CONNECT, telemetry, twin requests and method responses. The broker
	// records there the faults devices inject with IoT Hub's fault-injection
	// telemetry; the injector's dropper must reach this broker's
	// Disconnect. nil: the broker keeps a private injector dropping its own
	// connections, so fault-injection telemetry still works as on IoT Hub.
	Faults *faults.Injector
	// PacketLog, if set, is told of every MQTT packet read or sent, for the
	// emulator's debug wire log. It must not block.
	PacketLog func(PacketEvent)
	// SessionExpiry is how long the session of a clean-session=0 client
	// (its subscriptions) is kept after it disconnects, for it to resume;
	// then it is dropped and a later connection starts afresh. 0 means
	// DefaultSessionExpiry; negative is an error. A deleted identity's
	// session is dropped at once whatever this is (Forget).
	SessionExpiry time.Duration
	// Provisioning, if set, is the Device Provisioning Service served to
	// clients connecting with a DPS username; without it they are refused
	// as unsupported.
	Provisioning Provisioning
}

// Broker serves IoT Hub's MQTT device protocol for a Hub.
type Broker struct {
	hub    Hub
	log    *slog.Logger
	now    func() time.Time
	server *mqtt.Server
	faults *faults.Injector
	prov   Provisioning

	ctx    context.Context // cancelled by Close; parent of hub calls
	cancel context.CancelFunc
	calls  callDeadlines // hub calls' contexts, children of ctx

	sessionExpiry time.Duration

	mu        sync.Mutex
	closed    bool
	conns     map[*trackedConn]struct{} // every connection being served
	listeners []*netListener
	slots     map[string]*slot // by identity key, while held; see connections.go
	wg        sync.WaitGroup   // served connections, their writers, the expiry sweep

	live      atomic.Int64  // identities with an established connection
	nextRID   atomic.Uint64 // direct-method request ids
	c2dReadys atomic.Int64  // C2DReady calls started; tests read it to prove there was none
	closeOnce sync.Once
	closeErr  error

	// methodWaiting, if set, is called each time a method call goes (back)
	// to waiting for its identity, having found it not yet reachable; tests
	// set it before the first call to know the call has parked.
	methodWaiting func(key string)
}

// New returns a broker serving hub. It serves nothing until Serve or ServeConn.
func New(hub Hub, opts Options) (*Broker, error) {
	if hub == nil {
		return nil, errors.New("mqttbroker: nil Hub")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	expiry := opts.SessionExpiry
	switch {
	case expiry == 0:
		expiry = DefaultSessionExpiry
	case expiry < 0:
		return nil, fmt.Errorf("mqttbroker: negative session expiry %v", expiry)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MinimumProtocolVersion = 4 // MQTT 3.1.1; version 5 is refused in the connect hook
	caps.MaximumQos = 1             // a QoS 2 subscription is granted QoS 1
	caps.MaximumPacketSize = maxPacketSize
	caps.SharedSubAvailable = 0
	caps.MaximumClientWritesPending = 16 // mochi's routing queue, which is never used
	// caps.MaximumSessionExpiryInterval stays unlimited: the broker expires
	// sessions itself (expireSessions says why).
	server := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 slog.New(demoteHandler{log.Handler()}).With("component", "mochi"),
		SysTopicResendInterval: 24 * 60 * 60, // nobody may read $SYS; don't compute it every second
	})

	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		hub:    hub,
		log:    log,
		now:    now,
		server: server,
		faults: opts.Faults,
		prov:   opts.Provisioning,
		ctx:    ctx,
		cancel: cancel,
		calls:  callDeadlines{parent: ctx},
		conns:  map[*trackedConn]struct{}{},
		slots:  map[string]*slot{},

		sessionExpiry: expiry,
	}
	if b.faults == nil {
		// A private injector drops connections here, so fault-injection
		// telemetry works as on IoT Hub.
		inj, err := faults.New(faults.Options{Now: now, Dropper: b})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("mqttbroker: %w", err)
		}
		b.faults = inj
	}
	if err := server.AddHook(&hook{b: b}, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("mqttbroker: add hook: %w", err)
	}
	if opts.PacketLog != nil {
		if err := server.AddHook(&packetHook{log: opts.PacketLog}, nil); err != nil {
			cancel()
			return nil, fmt.Errorf("mqttbroker: add packet log hook: %w", err)
		}
	}
	if err := server.Serve(); err != nil {
		cancel()
		return nil, fmt.Errorf("mqttbroker: start: %w", err)
	}
	b.wg.Add(1)
	go b.expireLoop(expirySweepInterval(expiry))
	return b, nil
}

// Serve starts serving MQTT on an already-bound listener (plain TCP, or
// already wrapped by tls.NewListener by the caller); name identifies it in
// logs. It returns once the listener is registered; serving continues until
// Close, which also closes ln.
func (b *Broker) Serve(name string, ln net.Listener) error {
	if ln == nil {
		return errors.New("mqttbroker: nil listener")
	}
	if b.isClosed() {
		return ErrClosed
	}
	l := &netListener{id: name, ln: ln, b: b, done: make(chan struct{})}
	if err := b.server.AddListener(l); err != nil {
		return fmt.Errorf("mqttbroker: listener %q: %w", name, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		l.closeListener()
		return ErrClosed
	}
	b.listeners = append(b.listeners, l)
	b.mu.Unlock()

	b.server.Listeners.Serve(name, b.server.EstablishConnection)
	b.log.Info("mqtt listening", "listener", name, "address", ln.Addr().String())
	return nil
}

// ServeConn serves one already-accepted connection (MQTT over WebSockets, for
// one); it returns when the connection ends: nil after a clean DISCONNECT,
// otherwise why it ended. The connection is closed on return.
func (b *Broker) ServeConn(listenerName string, conn net.Conn) error {
	tc, err := b.track(conn)
	if err != nil {
		_ = conn.Close()
		return err
	}
	return b.serve(listenerName, tc, b.server.EstablishConnection)
}

// track registers a connection so Close can end it.
func (b *Broker) track(conn net.Conn) (*trackedConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	tc := &trackedConn{Conn: conn}
	b.conns[tc] = struct{}{}
	b.wg.Add(1)
	return tc, nil
}

// serve runs one connection through mochi and settles its state afterwards,
// whichever way mochi ended it (some of its failure paths skip its
// OnDisconnect hook, so the broker does not rely on that hook).
func (b *Broker) serve(listener string, tc *trackedConn, establish listeners.EstablishFn) error {
	defer b.wg.Done()
	_ = tc.SetDeadline(time.Now().Add(connectTimeout))
	err := establish(listener, tc)
	_ = tc.Close()
	authenticated := tc.sess.Load() != nil || tc.dps.Load() != nil
	b.finish(tc, err)
	b.dpsFinish(tc)
	if !authenticated {
		b.refuseForeign(listener, tc)
	}
	b.mu.Lock()
	delete(b.conns, tc)
	b.mu.Unlock()
	return err
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// NotifyDesired pushes a desired-properties change to the identity's current
// connection, if it is connected and subscribed to
// $iothub/twin/PATCH/properties/desired/#, on topic
// $iothub/twin/PATCH/properties/desired/?$version={version} with body
// (already containing "$version"). Nothing is queued for offline devices.
// It does not wait for the network: a connection that cannot keep up is closed,
// and the device re-reads its twin when it reconnects.
func (b *Broker) NotifyDesired(deviceID, moduleID string, version int64, body []byte) {
	key := identityKey(deviceID, moduleID)
	s := b.current(key)
	if s == nil {
		b.log.Debug("desired notification not sent: not connected", "client", key, "version", version)
		return
	}
	if !s.subscribed(filterDesired) {
		s.log.Debug("desired notification not sent: not subscribed", "version", version)
		return
	}
	if s.push(outbound{topic: desiredTopic(version), payload: bytes.Clone(body)}) {
		s.log.Debug("desired notification", "version", version)
	}
}

// Disconnect closes the identity's connection if any (device deleted,
// disabled, keys changed), including one still being authenticated.
func (b *Broker) Disconnect(deviceID, moduleID string) {
	key := identityKey(deviceID, moduleID)
	for _, s := range b.revoke(key, false) {
		s.log.Info("mqtt connection closed by the hub")
		s.close(errDisconnectedByHub)
	}
}

// IsConnected reports whether the identity has a live connection.
func (b *Broker) IsConnected(deviceID, moduleID string) bool {
	return b.current(identityKey(deviceID, moduleID)) != nil
}

// ConnectedCount is the number of identities with a live connection.
func (b *Broker) ConnectedCount() int { return int(b.live.Load()) }

// SessionCount is the number of MQTT sessions the broker holds: one per
// connected identity, plus one per clean-session=0 identity that
// disconnected less than the session expiry ago and was not deleted.
func (b *Broker) SessionCount() int { return b.server.Clients.Len() }

// Close closes the listeners and every connection, waits for them to end, and
// stops the broker. It is idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		ls := slices.Clone(b.listeners)
		conns := slices.Collect(maps.Keys(b.conns))
		b.mu.Unlock()

		b.cancel()
		for _, l := range ls {
			l.closeListener()
		}
		for _, c := range conns {
			_ = c.Close()
		}
		for _, l := range ls {
			<-l.done
		}
		b.wg.Wait()
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("mqttbroker: close: %w", err)
		}
		b.log.Info("mqtt broker closed")
	})
	return b.closeErr
}

// hubContext bounds one hub call (see callDeadlines) and ends it when the
// broker closes. The cancel function does nothing: the context is shared
// with the calls that start beside this one.
func (b *Broker) hubContext() (context.Context, context.CancelFunc) {
	return b.calls.context(), func() {}
}
