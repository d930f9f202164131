// Package loadgen simulates a fleet of IoT Hub devices over MQTT, as the
// device SDKs speak it: each device connects with its SAS key, sends
// telemetry and reported-property patches at a rate, and answers direct
// methods. It measures what the hub makes of the load (acknowledged
// messages, latencies, errors), so it can load-test the emulator or a
// user's own back end reading from it.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// Device is one simulated device's identity.
type Device struct {
	ID  string
	Key string // base64 symmetric key
}

// Config is one load run.
type Config struct {
	// Broker is the MQTT address, "host:port" (TLS) or "tcp://host:port"
	// (plain); HostName is the hub host SAS tokens and usernames name.
	Broker   string
	HostName string
	// TLS configures the connection to a TLS broker (root CAs, server name).
	TLS *tls.Config
	// Devices are the identities to simulate.
	Devices []Device
	// TelemetryRate and ReportedRate are messages per second per device
	// (0: none of that kind).
	TelemetryRate, ReportedRate float64
	// QoS of telemetry: 0 or 1 (reported patches always expect a response).
	QoS byte
	// PayloadSize is each telemetry body's size in bytes (a JSON document).
	PayloadSize int
	// Duration bounds the run; MessagesPerDevice, if set, ends each
	// device's telemetry after that many messages. One of them is needed.
	Duration          time.Duration
	MessagesPerDevice int
	// AnswerMethods makes every device answer direct methods with 200.
	AnswerMethods bool
	// Progress, if set, gets a progress line every ProgressEvery
	// (default one second).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Timeout bounds each connect and each acknowledgement (default 30 s).
	Timeout time.Duration
}

// Summary is what a run measured.
type Summary struct {
	Devices         int
	Connected       int
	Elapsed         time.Duration
	TelemetrySent   int64
	TelemetryAcked  int64 // QoS 1: PUBACKs received; QoS 0: publishes written
	ReportedSent    int64
	ReportedOK      int64 // 204 responses
	MethodsAnswered int64
	Errors          int64
	// Latencies: publish to PUBACK (QoS 1), patch to its response.
	TelemetryP50, TelemetryP99 time.Duration
	ReportedP50, ReportedP99   time.Duration
	// FirstError describes the first error seen, if any.
	FirstError string
}

// TelemetryPerSecond is the acknowledged telemetry throughput.
func (s Summary) TelemetryPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.TelemetryAcked) / s.Elapsed.Seconds()
}

// String is the summary as the command prints it.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d (%d connected), %.1f s\n", s.Devices, s.Connected, s.Elapsed.Seconds())
	fmt.Fprintf(&b, "telemetry  sent %d, acknowledged %d, %.0f msg/s, p50 %s, p99 %s\n",
		s.TelemetrySent, s.TelemetryAcked, s.TelemetryPerSecond(), ms(s.TelemetryP50), ms(s.TelemetryP99))
	if s.ReportedSent > 0 {
		fmt.Fprintf(&b, "reported   sent %d, accepted %d, p50 %s, p99 %s\n", s.ReportedSent, s.ReportedOK, ms(s.ReportedP50), ms(s.ReportedP99))
	}
	fmt.Fprintf(&b, "methods    answered %d\n", s.MethodsAnswered)
	fmt.Fprintf(&b, "errors     %d", s.Errors)
	if s.FirstError != "" {
		fmt.Fprintf(&b, " (first: %s)", s.FirstError)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func (c *Config) check() error {
	switch {
	case len(c.Devices) == 0:
		return errors.New("loadgen: no devices")
	case c.Broker == "" || c.HostName == "":
		return errors.New("loadgen: Broker and HostName are required")
	case c.Duration <= 0 && c.MessagesPerDevice <= 0:
		return errors.New("loadgen: set a duration or a message count")
	case c.Duration <= 0 && c.ReportedRate > 0:
		return errors.New("loadgen: reported patches need a duration")
	case c.QoS > 1:
		return errors.New("loadgen: QoS is 0 or 1")
	case c.TelemetryRate < 0 || c.ReportedRate < 0:
		return errors.New("loadgen: negative rate")
	case c.MessagesPerDevice > 0 && c.TelemetryRate == 0:
		return errors.New("loadgen: a message count needs a telemetry rate")
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return nil
}

// run is the state of one run, shared by the device goroutines.
type run struct {
	cfg     Config
	payload []byte

	connected                 atomic.Int64
	sent, acked, rSent, rOK   atomic.Int64
	methods, errs             atomic.Int64
	firstErr                  atomic.Pointer[string]
	latMu                     sync.Mutex
	telemetryLat, reportedLat []time.Duration
}

// maxSamples bounds the latencies kept per kind: a long run keeps a
// uniform sample (reservoir sampling), not every one.
const maxSamples = 200_000

func (r *run) sample(into *[]time.Duration, seen int64, d time.Duration) {
	r.latMu.Lock()
	defer r.latMu.Unlock()
	if len(*into) < maxSamples {
		*into = append(*into, d)
	} else if i := rand.Int64N(seen); i < maxSamples {
		(*into)[i] = d
	}
}

func (r *run) fail(err error) {
	r.errs.Add(1)
	msg := err.Error()
	r.firstErr.CompareAndSwap(nil, &msg)
}

// Run simulates the devices until ctx ends, the duration passes or every
// device has sent its messages, and returns what it measured. Devices
// that cannot connect count as errors; the run goes on with the others.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.check(); err != nil {
		return Summary{}, err
	}
	r := &run{cfg: cfg, payload: payload(cfg.PayloadSize)}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	stopProgress := r.progress(ctx, start)
	var wg sync.WaitGroup
	for _, d := range cfg.Devices {
		wg.Go(func() { r.device(ctx, d) })
	}
	wg.Wait()
	stopProgress()
	s := Summary{
		Devices: len(cfg.Devices), Connected: int(r.connected.Load()), Elapsed: time.Since(start),
		TelemetrySent: r.sent.Load(), TelemetryAcked: r.acked.Load(),
		ReportedSent: r.rSent.Load(), ReportedOK: r.rOK.Load(),
		MethodsAnswered: r.methods.Load(), Errors: r.errs.Load(),
	}
	if p := r.firstErr.Load(); p != nil {
		s.FirstError = *p
	}
	s.TelemetryP50, s.TelemetryP99 = percentiles(r.telemetryLat)
	s.ReportedP50, s.ReportedP99 = percentiles(r.reportedLat)
	return s, nil
}

func percentiles(xs []time.Duration) (p50, p99 time.Duration) {
	if len(xs) == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	at := func(q float64) time.Duration { return xs[min(len(xs)-1, int(q*float64(len(xs))))] }
	return at(0.50), at(0.99)
}

// payload is a JSON body of about n bytes.
func payload(n int) []byte {
	const head, tail = `{"temperature":21.5,"pad":"`, `"}`
	pad := max(0, n-len(head)-len(tail))
	return []byte(head + strings.Repeat("x", pad) + tail)
}

func (r *run) progress(ctx context.Context, start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				acked := r.acked.Load()
				fmt.Fprintf(r.cfg.Progress, "%5.1fs  connected %d/%d  telemetry %d (%.0f/s)  reported %d  methods %d  errors %d\n",
					time.Since(start).Seconds(), r.connected.Load(), len(r.cfg.Devices), acked,
					float64(acked-last)/r.cfg.ProgressEvery.Seconds(), r.rOK.Load(), r.methods.Load(), r.errs.Load())
				last = acked
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// device runs one simulated device.
func (r *run) device(ctx context.Context, d Device) {
	cfg := r.cfg
	token, err := sas.NewToken(cfg.HostName+"/devices/"+d.ID, d.Key, "", time.Now().Add(24*time.Hour))
	if err != nil {
		r.fail(fmt.Errorf("device %s: %w", d.ID, err))
		return
	}
	broker := cfg.Broker
	if !strings.Contains(broker, "://") {
		broker = "ssl://" + broker
	}
	responses := newResponses()
	opts := paho.NewClientOptions().AddBroker(broker).
		SetClientID(d.ID).SetUsername(cfg.HostName + "/" + d.ID + "/?api-version=2021-04-12").SetPassword(token).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(cfg.Timeout).SetKeepAlive(60 * time.Second).SetOrderMatters(false).
		SetDefaultPublishHandler(func(c paho.Client, m paho.Message) { r.onMessage(c, m, responses) })
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	c := paho.NewClient(opts)
	if tk := c.Connect(); !tk.WaitTimeout(cfg.Timeout) || tk.Error() != nil {
		r.fail(fmt.Errorf("device %s: connect: %v", d.ID, tokenErr(tk)))
		return
	}
	defer c.Disconnect(100)
	filters := map[string]byte{"$iothub/twin/res/#": 0}
	if cfg.AnswerMethods {
		filters["$iothub/methods/POST/#"] = 0
	}
	if tk := c.SubscribeMultiple(filters, nil); !tk.WaitTimeout(cfg.Timeout) || tk.Error() != nil {
		r.fail(fmt.Errorf("device %s: subscribe: %v", d.ID, tokenErr(tk)))
		return
	}
	r.connected.Add(1)
	defer r.connected.Add(-1)

	var wg sync.WaitGroup
	if cfg.TelemetryRate > 0 {
		wg.Go(func() { r.telemetry(ctx, c, d.ID) })
	}
	if cfg.ReportedRate > 0 {
		wg.Go(func() { r.reported(ctx, c, d.ID, responses) })
	}
	wg.Wait()
	if cfg.Duration > 0 && (cfg.AnswerMethods || (cfg.TelemetryRate == 0 && cfg.ReportedRate == 0)) {
		// A device that answers methods, or only idles, stays connected
		// until the run's time is up.
		<-ctx.Done()
	}
}

func tokenErr(tk paho.Token) error {
	if err := tk.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// every paces a loop at rate per second, with a random first delay so a
// fleet's messages spread over the interval.
func every(ctx context.Context, rate float64, fn func() bool) {
	interval := time.Duration(float64(time.Second) / rate)
	first := time.Duration(rand.Int64N(int64(interval) + 1))
	select {
	case <-ctx.Done():
		return
	case <-time.After(first):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if !fn() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *run) telemetry(ctx context.Context, c paho.Client, id string) {
	topic := "devices/" + id + "/messages/events/"
	n := 0
	every(ctx, r.cfg.TelemetryRate, func() bool {
		if r.cfg.MessagesPerDevice > 0 && n >= r.cfg.MessagesPerDevice {
			return false
		}
		n++
		start := time.Now()
		tk := c.Publish(topic, r.cfg.QoS, false, r.payload)
		seen := r.sent.Add(1)
		if !tk.WaitTimeout(r.cfg.Timeout) || tk.Error() != nil {
			r.fail(fmt.Errorf("device %s: telemetry: %v", id, tokenErr(tk)))
			return ctx.Err() == nil && c.IsConnectionOpen()
		}
		r.acked.Add(1)
		if r.cfg.QoS == 1 {
			r.sample(&r.telemetryLat, seen, time.Since(start))
		}
		return true
	})
}

func (r *run) reported(ctx context.Context, c paho.Client, id string, responses *responses) {
	n := 0
	every(ctx, r.cfg.ReportedRate, func() bool {
		n++
		rid := strconv.Itoa(n)
		wait := responses.expect(rid)
		start := time.Now()
		body := fmt.Sprintf(`{"loadgen":{"seq":%d,"at":%q}}`, n, start.UTC().Format(time.RFC3339Nano))
		c.Publish("$iothub/twin/PATCH/properties/reported/?$rid="+rid, 0, false, body)
		seen := r.rSent.Add(1)
		select {
		case status := <-wait:
			if status != "204" {
				r.fail(fmt.Errorf("device %s: reported patch answered %s", id, status))
				return true
			}
			r.rOK.Add(1)
			r.sample(&r.reportedLat, seen, time.Since(start))
		case <-time.After(r.cfg.Timeout):
			responses.forget(rid)
			r.fail(fmt.Errorf("device %s: reported patch %s: no response", id, rid))
		case <-ctx.Done():
			responses.forget(rid)
			return false
		}
		return true
	})
}

// onMessage handles what the hub sends a device: twin responses, and
// direct-method requests, which are answered with 200 and an empty object.
func (r *run) onMessage(c paho.Client, m paho.Message, responses *responses) {
	topic := m.Topic()
	switch {
	case strings.HasPrefix(topic, "$iothub/twin/res/"):
		// $iothub/twin/res/{status}/?$rid={rid}[&$version=n]
		rest := strings.TrimPrefix(topic, "$iothub/twin/res/")
		status, query, _ := strings.Cut(rest, "/?")
		for _, kv := range strings.Split(query, "&") {
			if rid, ok := strings.CutPrefix(kv, "$rid="); ok {
				responses.deliver(rid, status)
			}
		}
	case strings.HasPrefix(topic, "$iothub/methods/POST/"):
		_, query, _ := strings.Cut(topic, "/?$rid=")
		rid, _, _ := strings.Cut(query, "&")
		c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, `{}`)
		r.methods.Add(1)
	}
}

// responses matches twin responses to their requests by request id.
type responses struct {
	mu      sync.Mutex
	waiting map[string]chan string
}

func newResponses() *responses { return &responses{waiting: map[string]chan string{}} }

func (rs *responses) expect(rid string) <-chan string {
	ch := make(chan string, 1)
	rs.mu.Lock()
	rs.waiting[rid] = ch
	rs.mu.Unlock()
	return ch
}

func (rs *responses) deliver(rid, status string) {
	rs.mu.Lock()
	ch, ok := rs.waiting[rid]
	delete(rs.waiting, rid)
	rs.mu.Unlock()
	if ok {
		ch <- status
	}
}

func (rs *responses) forget(rid string) {
	rs.mu.Lock()
	delete(rs.waiting, rid)
	rs.mu.Unlock()
}
