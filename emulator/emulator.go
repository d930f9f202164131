package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqphub"
	"github.com/iothub-emulator/iothub-emulator/api"
	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/certs"
	"github.com/iothub-emulator/iothub-emulator/configurations"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/debuglog"
	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/importexport"
	"github.com/iothub-emulator/iothub-emulator/jobs"
	"github.com/iothub-emulator/iothub-emulator/metrics"
	"github.com/iothub-emulator/iothub-emulator/mqttbroker"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/seed"
	"github.com/iothub-emulator/iothub-emulator/store"
	"github.com/iothub-emulator/iothub-emulator/ui"
)

// Listener names.
const (
	MQTTS = "mqtts"
	HTTPS = "https"
	MQTT  = "mqtt"
	HTTP  = "http"
	AMQPS = "amqps"
	AMQP  = "amqp"
)

// DatabaseFile is the bbolt file under the data dir.
const DatabaseFile = "iothub.db"

// Emulator is a running hub with its listeners.
type Emulator struct {
	cfg       Config
	log       *slog.Logger
	hub       *hub.Hub
	store     store.Store
	telemetry *d2c.Log
	devices   *devicelink.Router
	eventHubs *eventhubs.Endpoint
	c2d       *c2d.Queues
	blobs     *blobstore.Server // the built-in blob endpoint; nil with --file-upload-storage
	files     *fileupload.Manager
	dps       *dps.Service
	jobs      *jobs.Manager
	configs   *configurations.Manager
	imports   *importexport.Manager
	broker    *mqttbroker.Broker
	amqp      *amqphub.Server
	tls       *certs.Bundle
	tmpCA     string // temporary CA file of an in-memory emulator
	faults    *faults.Injector
	debug     *debuglog.Log
	debugFile *os.File
	metrics   *metrics.Registry

	addrs    map[string]string
	warnings []string
	servers  []*http.Server
	ready    atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// New starts an emulator: it opens the store, loads the hub, binds every
// enabled listener and serves until Close.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, log: cfg.Logger, addrs: make(map[string]string)}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := e.start(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// start brings the emulator up one named step at a time, each building on
// the ones before it; the first error stops it and New closes what was
// opened.
func (e *Emulator) start() error {
	for _, step := range []func() error{
		e.openStore,
		e.loadTLS,
		e.openDebugLog,
		e.openTelemetry,
		e.newEventHubs,
		e.openHub,
		e.openProvisioning,
		e.openJobs,
		e.openConfigurations,
		e.applySeed,
		e.releaseLoadMemory,
		e.newFaults,
		e.newFileUpload,
		e.openImportExport,
		e.newBroker,
		e.newAMQP,
		e.listen,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	e.ready.Store(true)
	e.log.Info("emulator ready", "listeners", e.addrs)
	return nil
}

// releaseLoadMemory hands the memory a start used for decoding (copies of
// stored records, scratch space) back to the system: the runtime would
// otherwise keep it for minutes, and the load's peak is far above what the
// hub then holds.
func (e *Emulator) releaseLoadMemory() error {
	debug.FreeOSMemory()
	return nil
}

func (e *Emulator) openStore() error {
	st, err := openStore(e.cfg)
	if err != nil {
		return err
	}
	e.store = st
	return nil
}

func (e *Emulator) openDebugLog() error {
	if e.cfg.DebugLog == "" {
		return nil
	}
	f, err := os.OpenFile(e.cfg.DebugLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("debug log: %w", err)
	}
	e.debugFile, e.debug = f, debuglog.New(f, nil)
	return nil
}

func (e *Emulator) openTelemetry() error {
	tlog, err := d2c.Open(d2c.Options{
		Store:          e.store,
		MaxMessages:    e.cfg.TelemetryMaxMessages,
		MaxAge:         e.cfg.TelemetryMaxAge,
		Partitions:     e.cfg.Partitions,
		ConsumerGroups: e.cfg.ConsumerGroups,
		Logger:         e.log.With("component", "telemetry"),
	})
	if err != nil {
		return fmt.Errorf("telemetry log: %w", err)
	}
	e.telemetry = tlog
	return nil
}

// newEventHubs describes the Event Hubs-compatible endpoint over the
// telemetry log, for the protocol head that serves it.
func (e *Emulator) newEventHubs() error {
	ep, err := eventhubs.New(eventhubs.Config{
		Name:      e.cfg.eventHubName(),
		HubName:   e.cfg.hubName(),
		Log:       e.telemetry,
		CreatedAt: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("event hubs endpoint: %w", err)
	}
	e.eventHubs = ep
	return nil
}

func (e *Emulator) openHub() error {
	policies := registry.WellKnownPolicies()
	if keys := e.cfg.hubPolicyKeys(); len(keys) > 0 {
		var err error
		if policies, err = policies.WithKeys(keys); err != nil {
			return err
		}
	}
	e.metrics = metrics.New()
	// The device link exists before the hub and the protocol heads: the
	// hub reaches devices through it, and each head joins it once built.
	e.devices = devicelink.NewRouter()
	trusted, err := certs.LoadCAPool(e.cfg.X509CAs)
	if err != nil {
		return err
	}
	h, err := hub.Open(hub.Options{
		TrustedCAs: trusted,
		HostNames:  e.cfg.acceptedHosts(),
		Store:      e.store,
		Telemetry:  e.telemetry,
		Devices:    e.devices,
		Metrics:    e.metrics,
		Policies:   policies,
		Logger:     e.log.With("component", "hub"),
	})
	if err != nil {
		return err
	}
	e.hub, e.c2d = h, h.C2D()
	return nil
}

// openJobs loads the scheduled jobs and starts their runner, which
// resumes the jobs a stop interrupted.
func (e *Emulator) openJobs() error {
	m, err := jobs.Open(jobs.Options{Store: e.store, Hub: e.hub, Logger: e.log.With("component", "jobs")})
	if err != nil {
		return err
	}
	e.jobs = m
	return nil
}

// openConfigurations loads the automatic device management
// configurations and starts their sweeper.
func (e *Emulator) openConfigurations() error {
	m, err := configurations.Open(configurations.Options{Store: e.store, Hub: e.hub, Logger: e.log.With("component", "configurations")})
	if err != nil {
		return err
	}
	e.configs = m
	return nil
}

// openProvisioning opens the Device Provisioning Service, linked to the
// hub, on the same store.
func (e *Emulator) openProvisioning() error {
	policy := dps.WellKnownPolicy()
	if key, ok := e.cfg.PolicyKeys[dps.PolicyName]; ok {
		var err error
		if policy, err = policy.WithKey(key); err != nil {
			return err
		}
	}
	accepted := e.cfg.acceptedHosts()
	s, err := dps.Open(dps.Options{
		Store:   e.store,
		Hub:     e.hub,
		IDScope: e.cfg.DPSIDScope,
		Policy:  policy,
		HostAccepted: func(host string) bool {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return slices.ContainsFunc(accepted, func(a string) bool { return strings.EqualFold(a, host) })
		},
		Logger: e.log.With("component", "dps"),
	})
	if err != nil {
		return fmt.Errorf("provisioning service: %w", err)
	}
	e.dps = s
	return nil
}

func (e *Emulator) applySeed() error {
	if e.cfg.SeedFile == "" {
		return nil
	}
	doc, err := seed.Load(e.cfg.SeedFile)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	res, err := seed.ApplyWithProvisioning(context.Background(), e.hub, e.dps, doc)
	if err != nil {
		return fmt.Errorf("seed %s: %w", e.cfg.SeedFile, err)
	}
	e.log.Info("seed applied", "file", e.cfg.SeedFile, "created", len(res.Created), "updated", len(res.Updated), "unchanged", len(res.Unchanged))
	return nil
}

func (e *Emulator) newFaults() error {
	opts := faults.Options{Dropper: e.devices}
	if e.cfg.Tier != "" {
		l, err := faults.NewLimiter(strings.ToUpper(e.cfg.Tier))
		if err != nil {
			return err
		}
		opts.Limiter = l
	}
	inj, err := faults.New(opts)
	if err != nil {
		return err
	}
	e.faults = inj
	return nil
}

// newFileUpload sets up file upload: to the built-in blob endpoint,
// blobs kept under the data dir, or with --file-upload-storage to the
// user's account.
func (e *Emulator) newFileUpload() error {
	var storage fileupload.Storage
	if cs := e.cfg.FileUploadStorage; cs != "" {
		a, err := blobstore.ParseConnectionString(cs)
		if err != nil {
			return fmt.Errorf("--file-upload-storage: %w", err)
		}
		storage = fileupload.External{Account: a}
	} else {
		dir := ""
		if !e.cfg.InMemory {
			dir = filepath.Join(e.cfg.DataDir, "blobs")
		}
		bs, err := blobstore.New(blobstore.Options{Account: blobstore.BuiltInAccount, Key: blobstore.BuiltInKey, Dir: dir, Logger: e.log.With("component", "blobs")})
		if err != nil {
			return fmt.Errorf("blob endpoint: %w", err)
		}
		e.blobs, storage = bs, fileupload.BuiltIn{Server: bs}
	}
	m, err := fileupload.New(fileupload.Options{Store: e.store, Storage: storage, Logger: e.log.With("component", "fileupload")})
	if err != nil {
		return err
	}
	e.files = m
	return nil
}

// openImportExport loads the import and export jobs and starts their
// runner. Containers of the built-in blob endpoint are reached in process;
// any other account over HTTPS, trusting the system's roots and the
// emulator's CA (as an Azurite serving the emulator's certificate needs).
func (e *Emulator) openImportExport() error {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(e.tls.CAPEM) > 0 {
		roots.AppendCertsFromPEM(e.tls.CAPEM)
	}
	storage := importexport.Storage{
		LocalHosts: e.cfg.acceptedHosts(),
		Client: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}},
	}
	if e.blobs != nil {
		storage.Local, storage.LocalAccount = e.blobs, e.blobs.Account()
	}
	m, err := importexport.Open(importexport.Options{Store: e.store, Registry: e.hub, Configurations: e.configs,
		Storage: storage, Logger: e.log.With("component", "importexport")})
	if err != nil {
		return err
	}
	e.imports = m
	return nil
}

// newBroker builds the MQTT broker on the hub and adds it to the device
// link, through which the hub notifies, invokes methods and delivers
// cloud-to-device messages.
func (e *Emulator) newBroker() error {
	var packetLog func(mqttbroker.PacketEvent)
	if e.debug != nil {
		packetLog = func(ev mqttbroker.PacketEvent) { e.debug.Write(packetEntry(ev)) }
	}
	h, queues := e.hub, e.c2d
	b, err := mqttbroker.New(deviceSide{h: h, queues: queues, strict: e.cfg.Strict}, mqttbroker.Options{
		Logger:        e.log.With("component", "mqtt"),
		Faults:        e.faults,
		PacketLog:     packetLog,
		SessionExpiry: e.cfg.SessionExpiry,
		Provisioning:  e.dps,
	})
	if err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}
	e.broker = b
	delivered := e.metrics.Counter("iothub_c2d_messages_delivered_total", "Cloud-to-device messages handed to devices.")
	e.devices.Add(mqttHead{Broker: b, delivered: delivered})
	e.metrics.GaugeFunc("iothub_connections", "Connected devices and modules (MQTT and AMQP).", func() float64 {
		n := b.ConnectedCount()
		if e.amqp != nil { // built after the broker
			n += e.amqp.ConnectedCount()
		}
		return float64(n)
	})
	e.metrics.GaugeFunc("iothub_devices", "Registered devices.", func() float64 {
		rs, _ := h.Statistics()
		return float64(rs.TotalDeviceCount)
	})
	return nil
}

// newAMQP builds the AMQP head: IoT Hub's service side (C2D sends,
// feedback), its device side, which joins the device link beside the MQTT
// broker, and the Event Hubs-compatible endpoint.
func (e *Emulator) newAMQP() error {
	s, err := amqphub.New(amqphub.Options{
		Hub:          e.hub,
		C2D:          e.c2d,
		FileUploads:  e.files,
		Telemetry:    e.telemetry,
		EventHubs:    e.eventHubs,
		RedirectPort: e.amqpsPort,
		Logger:       e.log.With("component", "amqp"),
	})
	if err != nil {
		return fmt.Errorf("amqp: %w", err)
	}
	e.amqp = s
	e.devices.Add(s)
	return nil
}

// amqpsPort is the port the AMQPS listener is bound to (IoT Hub's 5671
// while it is off, as that is where clients would be sent).
func (e *Emulator) amqpsPort() int {
	if _, p, err := net.SplitHostPort(e.addrs[AMQPS]); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return DefaultAMQPSPort
}

// httpHandler is what the HTTPS and HTTP ports serve: the REST API, the
// dashboard under /ui/, and MQTT over WebSockets where the SDKs' websocket
// transports dial it.
func (e *Emulator) httpHandler() http.Handler {
	apiHandler := api.New(e.hub, api.Options{
		Logger:    e.log.With("component", "api"),
		Ready:     e.ready.Load,
		Metrics:   e.metrics,
		Strict:    e.cfg.Strict,
		Seed:      seed.NewSeeder(e.hub, seed.WithProvisioning(e.dps)),
		CAPEM:     e.tls.CAPEM,
		Faults:    e.faults,
		Clients:   e.devices,
		Telemetry: e.telemetry,
		C2D:       e.c2d,

		Provisioning: e.dps,
		Jobs:         e.jobs,
		FileUploads:  e.files,

		Configurations: e.configs,
		ImportExport:   e.imports,
	})
	apiHandler = e.debug.Middleware(apiHandler)
	// The dashboard sits outside the debug log's middleware (its login body
	// carries a key); the API calls it makes are logged, signatures redacted.
	dashboard := ui.New(ui.Options{
		API:          apiHandler,
		Owner:        e.ownerPolicy,
		RequireLogin: e.cfg.dashboardNeedsLogin(),
		HostNames:    e.cfg.acceptedHosts(),
		Logger:       e.log.With("component", "ui"),
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, ui.Prefix) {
			dashboard.ServeHTTP(w, r)
			return
		}
		if e.blobs != nil && strings.HasPrefix(r.URL.Path, e.blobs.Prefix()) {
			e.blobs.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
	return withWebSocket(handler, e.broker, e.amqp)
}

// ownerPolicy is the owner policy's name and current key, for the dashboard.
func (e *Emulator) ownerPolicy() (string, string) {
	p, ok := e.hub.Policies().Find("iothubowner")
	if !ok {
		return "", ""
	}
	return p.Name, p.PrimaryKey
}

// listen binds every enabled port and serves it: MQTT on the broker, HTTP
// on the API. A privileged port that cannot be bound is a warning, not a
// failure, so the other ports keep serving.
func (e *Emulator) listen() error {
	cfg, b := e.cfg, e.broker
	handler := e.httpHandler()
	tlsConf := e.tls.TLSConfig()
	// Every TLS listener carrying device traffic asks for (never requires)
	// a client certificate, for X.509 devices: 8883, 5671, and the HTTPS
	// port for MQTT and AMQP over WebSockets, which REST clients share.
	deviceTLS := tlsConf.Clone()
	deviceTLS.ClientAuth = tls.RequestClientCert
	for _, l := range []struct {
		name string
		port int
		def  int
		tls  bool
		kind string
	}{
		{MQTTS, cfg.MQTTSPort, DefaultMQTTSPort, true, "mqtt"},
		{HTTPS, cfg.HTTPSPort, DefaultHTTPSPort, true, "http"},
		{MQTT, cfg.MQTTPort, DefaultMQTTPort, false, "mqtt"},
		{HTTP, cfg.HTTPPort, DefaultHTTPPort, false, "http"},
		{AMQPS, cfg.AMQPSPort, DefaultAMQPSPort, true, "amqp"},
		{AMQP, cfg.AMQPPort, DefaultAMQPPort, false, "amqp"},
	} {
		if l.port == Off {
			continue
		}
		listen := cfg.listen
		if listen == nil {
			listen = net.Listen
		}
		ln, err := listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(l.port)))
		if err != nil {
			if errors.Is(err, syscall.EACCES) && l.port < 1024 {
				// A privileged port needs root or CAP_NET_BIND_SERVICE; keep the others serving.
				msg := fmt.Sprintf("%s: cannot bind port %d (permission denied): run with CAP_NET_BIND_SERVICE (sudo setcap cap_net_bind_service=+ep <binary>) or pick another port with --%s-port", l.name, l.port, l.name)
				e.warnings = append(e.warnings, msg)
				e.log.Warn(msg)
				continue
			}
			return fmt.Errorf("%s listener: %w", l.name, err)
		}
		e.addrs[l.name] = ln.Addr().String()
		if l.tls {
			ln = tls.NewListener(ln, deviceTLS)
		}
		switch l.kind {
		case "mqtt":
			if err := b.Serve(l.name, ln); err != nil {
				ln.Close()
				return fmt.Errorf("%s listener: %w", l.name, err)
			}
			continue
		case "amqp":
			if err := e.amqp.Serve(ln); err != nil {
				return fmt.Errorf("%s listener: %w", l.name, err)
			}
			continue
		}
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		}
		e.servers = append(e.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.log.Error("http server stopped", "listener", l.name, "err", err)
			}
		}()
	}
	if len(e.addrs) == 0 {
		return errors.New("no listener could be started")
	}
	return nil
}

// openStore opens the database under the data dir, or with --in-memory a
// store that leaves nothing on disk; the rest of the hub cannot tell which.
func openStore(cfg Config) (store.Store, error) {
	if cfg.InMemory {
		return store.OpenMemory(), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, DatabaseFile))
	if err != nil {
		return nil, err // not a nil *File in a non-nil interface
	}
	return st, nil
}

func (e *Emulator) loadTLS() error {
	cfg := e.cfg
	var err error
	switch {
	case cfg.TLSCert != "":
		e.tls, err = certs.Load(cfg.TLSCert, cfg.TLSKey)
	case cfg.InMemory:
		e.tls, err = certs.LoadOrCreate("", cfg.HostNames, time.Now())
		if err == nil {
			err = e.writeTempCA()
		}
	default:
		e.tls, err = certs.LoadOrCreate(filepath.Join(cfg.DataDir, "certs"), cfg.HostNames, time.Now())
	}
	return err
}

// WebSocketPath is where the SDKs open MQTT over WebSockets.
const WebSocketPath = "/$iothub/websocket"

// serviceBusWebSocketPath is where AMQP-over-WebSockets clients of Service
// Bus and Event Hubs dial; the broker's handler refuses them, saying why.
const serviceBusWebSocketPath = "/$servicebus/websocket"

// withWebSocket routes WebSocket upgrades on the SDKs' paths: those
// offering AMQP's subprotocol to the AMQP head, the others to the MQTT
// broker (which also explains what it does not serve).
func withWebSocket(api http.Handler, b *mqttbroker.Broker, a *amqphub.Server) http.Handler {
	ws := b.WebSocketHandler("wss")
	amqpWS := a.WebSocketHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case WebSocketPath, WebSocketPath + "/", serviceBusWebSocketPath, serviceBusWebSocketPath + "/":
			if amqphub.IsWebSocket(r) {
				amqpWS.ServeHTTP(w, r)
				return
			}
			ws.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// writeTempCA gives clients of an in-memory emulator a CA file to trust; it
// is removed on Close.
func (e *Emulator) writeTempCA() error {
	dir, err := os.MkdirTemp("", "iothub-emulator-ca-")
	if err != nil {
		return fmt.Errorf("temporary CA file: %w", err)
	}
	path := filepath.Join(dir, certs.CAFile)
	if err := os.WriteFile(path, e.tls.CAPEM, 0o644); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("temporary CA file: %w", err)
	}
	e.tmpCA, e.tls.CAPath = dir, path
	return nil
}

// Close stops the listeners, closes every connection, flushes the store and
// removes temporary files. It is safe to call more than once.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.ready.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		// The log first: it ends event streams and long polls, which would
		// otherwise hold the HTTP shutdown.
		if e.telemetry != nil {
			errs = append(errs, e.telemetry.Close())
		}
		for _, srv := range e.servers {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
		}
		if e.broker != nil {
			errs = append(errs, e.broker.Close())
		}
		if e.amqp != nil {
			errs = append(errs, e.amqp.Close())
		}
		if e.imports != nil { // before the hub its runner calls
			errs = append(errs, e.imports.Close())
		}
		if e.configs != nil { // before the hub its sweeper calls
			errs = append(errs, e.configs.Close())
		}
		if e.jobs != nil { // before the hub its runner calls
			errs = append(errs, e.jobs.Close())
		}
		if e.hub != nil {
			errs = append(errs, e.hub.Close())
		}
		if e.store != nil { // nil only when start failed before opening it
			errs = append(errs, e.store.Close())
		}
		if e.tmpCA != "" {
			os.RemoveAll(e.tmpCA)
		}
		if e.debugFile != nil {
			errs = append(errs, e.debugFile.Close())
		}
		e.closeErr = errors.Join(errs...)
		e.log.Info("emulator stopped")
	})
	return e.closeErr
}

// Hub is the running hub.
func (e *Emulator) Hub() *hub.Hub { return e.hub }

// Provisioning is the emulated Device Provisioning Service.
func (e *Emulator) Provisioning() *dps.Service { return e.dps }

// Telemetry is the device-to-cloud message log.
func (e *Emulator) Telemetry() *d2c.Log { return e.telemetry }

// EventHubsConnectionString is the Event Hubs-compatible endpoint's
// connection string for a policy: over AMQPS, or with
// UseDevelopmentEmulator=true over plain AMQP (the form the Event Hubs
// SDKs use for local emulators). "" when that port is off.
func (e *Emulator) EventHubsConnectionString(policy string, developmentEmulator bool) string {
	p, ok := e.hub.Policies().Find(policy)
	if !ok {
		return ""
	}
	name, port, def := AMQPS, e.cfg.AMQPSPort, DefaultAMQPSPort
	if developmentEmulator {
		name, port, def = AMQP, e.cfg.AMQPPort, DefaultAMQPPort
	}
	addr := e.addrs[name]
	if addr == "" {
		return ""
	}
	host := e.HostName()
	if _, p, err := net.SplitHostPort(addr); err == nil && port != def {
		host = net.JoinHostPort(host, p) // the SDKs take the port from the endpoint
	}
	cs := "Endpoint=sb://" + host + "/;SharedAccessKeyName=" + p.Name + ";SharedAccessKey=" + p.PrimaryKey + ";EntityPath=" + e.eventHubs.Name()
	if developmentEmulator {
		cs += ";UseDevelopmentEmulator=true"
	}
	return cs
}

// EventHubs is the Event Hubs-compatible endpoint's logic.
func (e *Emulator) EventHubs() *eventhubs.Endpoint { return e.eventHubs }

// HubName is the hub's name: the first label of its host name, or
// DefaultHubName when that is an address.
func (e *Emulator) HubName() string { return e.cfg.hubName() }

// C2D is the cloud-to-device queues.
func (e *Emulator) C2D() *c2d.Queues { return e.c2d }

// Faults is the fault injector (faults on demand, tier throttling).
func (e *Emulator) Faults() *faults.Injector { return e.faults }

// Broker is the MQTT broker.
func (e *Emulator) Broker() *mqttbroker.Broker { return e.broker }

// Addr is the address a listener is bound to ("" if it is off).
func (e *Emulator) Addr(name string) string { return e.addrs[name] }

// Warnings are the problems met at start that did not stop it (a privileged port that could not be bound).
func (e *Emulator) Warnings() []string { return e.warnings }

// CAPath is the CA certificate clients should trust ("" with a user-supplied certificate).
func (e *Emulator) CAPath() string { return e.tls.CAPath }

// CAPEM is the CA certificate in PEM (nil with a user-supplied certificate).
func (e *Emulator) CAPEM() []byte { return e.tls.CAPEM }

// HostName is the hub's canonical host name.
func (e *Emulator) HostName() string { return e.cfg.hostName() }

// ProvisioningConnectionString is the Device Provisioning Service's
// service connection string (policy provisioningserviceowner).
func (e *Emulator) ProvisioningConnectionString() string {
	p := e.dps.Policy()
	return sas.ConnectionString{HostName: e.HostName(), SharedAccessKeyName: p.Name, SharedAccessKey: p.PrimaryKey}.String()
}

// ConnectionString is the service connection string of a built-in policy.
func (e *Emulator) ConnectionString(policy string) string {
	p, ok := e.hub.Policies().Find(policy)
	if !ok {
		return ""
	}
	return sas.ConnectionString{HostName: e.HostName(), SharedAccessKeyName: p.Name, SharedAccessKey: p.PrimaryKey}.String()
}
