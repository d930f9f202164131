package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/emulator"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := emulator.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Bind, "bind", cfg.Bind, "IP address every listener binds to")
	fs.Var(portFlag{&cfg.MQTTSPort}, "mqtts-port", "MQTT 3.1.1 over TLS, the port device SDKs dial (0 = any free port, off = disabled)")
	fs.Var(portFlag{&cfg.HTTPSPort}, "https-port", "service REST API over TLS, the port service SDKs dial (0 = any free port, off = disabled)")
	fs.Var(portFlag{&cfg.MQTTPort}, "mqtt-port", "plain MQTT, for debugging (0 = any free port, off = disabled)")
	fs.Var(portFlag{&cfg.HTTPPort}, "http-port", "plain REST API, for debugging with curl (0 = any free port, off = disabled)")
	fs.Var(portFlag{&cfg.AMQPSPort}, "amqps-port", "AMQP over TLS: service-side C2D and feedback, Event Hubs-compatible telemetry (0 = any free port, off = disabled)")
	fs.Var(portFlag{&cfg.AMQPPort}, "amqp-port", "plain AMQP, for Event Hubs SDKs with UseDevelopmentEmulator=true (0 = any free port, off = disabled)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder for the database and the generated certificates")
	fs.BoolVar(&cfg.InMemory, "in-memory", false, "keep nothing on disk")
	fs.Var(listFlag{&cfg.HostNames}, "hostname", "host name clients use for the hub, covered by the generated certificate (repeatable; the first is printed in connection strings)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve instead of the generated one")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.Var(listFlag{&cfg.X509CAs}, "x509-ca", "PEM file of CA certificates that certificateAuthority devices' client certificates chain to (repeatable or comma-separated; several certificates per file allowed)")
	fs.Var(keysFlag{&cfg.PolicyKeys}, "policy-keys", "replace built-in policy keys: iothubowner=KEY,service=KEY,provisioningserviceowner=KEY,... (do this before exposing the emulator beyond this machine)")
	fs.StringVar(&cfg.DPSIDScope, "dps-id-scope", dps.DefaultIDScope, "ID scope of the Device Provisioning Service devices register in")
	fs.IntVar(&cfg.TelemetryMaxMessages, "telemetry-max-messages", 10000, "device-to-cloud messages kept for reading back (oldest dropped first)")
	fs.DurationVar(&cfg.TelemetryMaxAge, "telemetry-max-age", 24*time.Hour, "how long device-to-cloud messages are kept")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the Event Hubs-compatible endpoint, 1 to 32 (each device's telemetry lands on one)")
	fs.Var(listFlag{&cfg.ConsumerGroups}, "consumer-groups", "consumer groups of the Event Hubs-compatible endpoint besides $Default, comma-separated or repeated")
	fs.StringVar(&cfg.EventHubName, "event-hub-name", "", "Event Hubs-compatible name of the telemetry endpoint (default iothub-ehub-{hub name}; the hub name is accepted too)")
	fs.DurationVar(&cfg.SessionExpiry, "session-expiry", time.Hour, "how long a disconnected device's MQTT session (clean session 0) is kept for it to resume")
	fs.BoolVar(&cfg.Strict, "strict", false, "refuse api-versions the real IoT Hub would refuse (default: accept any)")
	fs.StringVar(&cfg.Tier, "tier", "", "throttle operations at a real hub tier's published rates: F1, S1, S2 or S3 (default: no throttling)")
	fs.StringVar(&cfg.SeedFile, "seed", "", "seed file (YAML or JSON) of devices, modules, keys and twins to create or reset at start")
	fs.StringVar(&cfg.DebugLog, "debug-log", "", "append every REST request and MQTT packet to this file as JSON lines (SAS signatures redacted), to attach to a bug report")
	fs.StringVar(&cfg.FileUploadStorage, "file-upload-storage", "", "connection string of the storage account file uploads go to (e.g. UseDevelopmentStorage=true for Azurite); unset, the built-in blob endpoint takes them")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	restoreGC := collectLessWhileLoading()
	emu, err := emulator.New(cfg)
	restoreGC()
	if err != nil {
		return err
	}
	printBanner(stdout, cfg, emu)
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping: closing listeners and flushing the store.")
	return emu.Close()
}

func printBanner(w io.Writer, cfg emulator.Config, emu *emulator.Emulator) {
	fmt.Fprintln(w, "iothub-emulator is running.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Service connection string (policy iothubowner):")
	fmt.Fprintln(w, "  "+emu.ConnectionString("iothubowner"))
	fmt.Fprintln(w)
	if p := emu.CAPath(); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		fmt.Fprintln(w, "CA certificate to trust:")
		fmt.Fprintln(w, "  "+p)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Listening on:")
	for _, l := range []struct{ name, scheme, what string }{
		{emulator.MQTTS, "mqtts", "MQTT over TLS (device SDKs)"},
		{emulator.HTTPS, "https", "REST API over TLS (service SDKs)"},
		{emulator.MQTT, "mqtt", "MQTT, plain (debugging)"},
		{emulator.HTTP, "http", "REST API, plain (debugging)"},
		{emulator.AMQPS, "amqps", "AMQP over TLS (service SDKs, Event Hubs)"},
		{emulator.AMQP, "amqp", "AMQP, plain (Event Hubs emulator mode)"},
	} {
		if a := emu.Addr(l.name); a != "" {
			fmt.Fprintf(w, "  %-36s %s://%s\n", l.what, l.scheme, a)
		}
	}
	for _, warn := range emu.Warnings() {
		fmt.Fprintln(w, "  warning: "+warn)
	}
	fmt.Fprintln(w)
	if dash := dashboardURLs(emu); len(dash) > 0 {
		fmt.Fprintln(w, "Dashboard:")
		for _, u := range dash {
			fmt.Fprintln(w, "  "+u)
		}
		fmt.Fprintln(w)
	}
	if ep := emu.EventHubs(); ep != nil {
		fmt.Fprintln(w, "Event Hubs-compatible endpoint (built-in telemetry):")
		fmt.Fprintf(w, "  name %s (or %s), %d partitions, consumer groups %s\n", ep.Name(), emu.HubName(), len(ep.PartitionIDs()), strings.Join(emu.Telemetry().ConsumerGroups(), ","))
		if cs := emu.EventHubsConnectionString("iothubowner", false); cs != "" {
			fmt.Fprintln(w, "  "+cs)
		}
		if cs := emu.EventHubsConnectionString("iothubowner", true); cs != "" {
			fmt.Fprintln(w, "  "+cs)
		}
		fmt.Fprintln(w)
	}
	if p := emu.Provisioning(); p != nil {
		fmt.Fprintln(w, "Device Provisioning Service (same host and ports; global endpoint "+emu.HostName()+"):")
		fmt.Fprintln(w, "  ID scope "+p.IDScope())
		fmt.Fprintln(w, "  "+emu.ProvisioningConnectionString())
		fmt.Fprintln(w)
	}
	if cfg.InMemory {
		fmt.Fprintln(w, "Data: in memory only (nothing is kept after exit).")
	} else {
		dir := cfg.DataDir
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		fmt.Fprintln(w, "Data: "+filepath.Join(dir, emulator.DatabaseFile))
	}
	fmt.Fprintln(w, "Create a device: iothub-emulator device create <id>"+endpointHint(emu))
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}

func endpointHint(emu *emulator.Emulator) string {
	a := emu.Addr(emulator.HTTP)
	if a == "" || strings.HasSuffix(a, fmt.Sprintf(":%d", emulator.DefaultHTTPPort)) {
		return ""
	}
	return " --endpoint http://" + a
}

// dashboardURLs are the web dashboard's addresses, on the HTTPS then the
// HTTP port, named by the hub's host name (the certificate covers it).
func dashboardURLs(emu *emulator.Emulator) []string {
	var out []string
	for _, l := range []struct{ name, scheme string }{{emulator.HTTPS, "https"}, {emulator.HTTP, "http"}} {
		a := emu.Addr(l.name)
		if a == "" {
			continue
		}
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		out = append(out, l.scheme+"://"+net.JoinHostPort(emu.HostName(), port)+"/ui/")
	}
	return out
}

// loadGCPercent is the collector's target (GOGC) while a start loads the
// store. Nearly everything a load allocates is kept by the hub, so with
// the default of 100 the collector marks the growing heap again at every
// doubling and finds little to free; at 400 it runs about half as many
// cycles. Alternating starts over 100,000 twins took 0.88 s against 1.04 s.
const loadGCPercent = 400

// collectLessWhileLoading sets the collector's target to loadGCPercent
// for the start unless the user chose one (GOGC), and returns what puts
// the previous target back. Two starts in one process may overlap: one
// that finds loadGCPercent already set leaves the restoring to the other.
func collectLessWhileLoading() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(loadGCPercent)
	if prev == loadGCPercent {
		return func() {}
	}
	return func() { debug.SetGCPercent(prev) }
}
