// Command iothub-loadgen simulates a fleet of devices against an IoT hub
// (the emulator, by default the one on this machine): it creates the
// devices, connects them over MQTT, sends telemetry and reported
// properties at a rate, answers direct methods, prints a progress line
// every second and a summary at the end.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iothub-emulator/iothub-emulator/loadgen"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// wellKnownOwner is the emulator's documented owner connection string.
const wellKnownOwner = "HostName=127.0.0.1;SharedAccessKeyName=iothubowner;SharedAccessKey=NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw="

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "iothub-loadgen:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("iothub-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hub := fs.String("hub", wellKnownOwner, "service connection string of a policy that may write the registry (creates the devices)")
	endpoint := fs.String("endpoint", "", "REST endpoint to create devices through (default https://{HostName})")
	broker := fs.String("mqtt", "", "MQTT over TLS address, host:port (default {HostName}:8883); tcp://host:port for plain MQTT")
	caFile := fs.String("ca", ".iothub-emulator/certs/ca.pem", "CA certificate to trust (empty: the system's)")
	serverName := fs.String("server-name", "", "TLS server name to verify (default the host of --mqtt)")
	devices := fs.Int("devices", 10, "simulated devices")
	prefix := fs.String("prefix", "loadgen", "device ids are {prefix}-0 ... {prefix}-{n-1}")
	rate := fs.Float64("rate", 1, "telemetry messages per second per device (0: none)")
	reported := fs.Float64("reported-rate", 0, "reported-property patches per second per device")
	qos := fs.Int("qos", 1, "telemetry QoS, 0 or 1")
	size := fs.Int("payload-size", 128, "telemetry body size in bytes")
	duration := fs.Duration("duration", 30*time.Second, "how long to run (0: until --messages are sent)")
	messages := fs.Int("messages", 0, "telemetry messages per device, then stop sending (0: no limit)")
	methods := fs.Bool("answer-methods", true, "answer direct methods with 200")
	cleanup := fs.Bool("delete", false, "delete the devices afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cs, err := sas.ParseConnectionString(*hub)
	if err != nil {
		return fmt.Errorf("--hub: %w", err)
	}
	if *endpoint == "" {
		*endpoint = "https://" + cs.HostName
	}
	if *broker == "" {
		*broker = cs.HostName + ":8883"
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: *serverName}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca: %s holds no PEM certificate", *caFile)
		}
		tlsConf.RootCAs = pool
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = hostOf(*broker)
	}

	reg := loadgen.Registry{
		Client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), MaxIdleConnsPerHost: 4}},
		Endpoint: *endpoint,
		Conn:     cs,
	}
	fmt.Fprintf(stderr, "creating %d devices %s-0 ... through %s\n", *devices, *prefix, *endpoint)
	devs, err := reg.Create(ctx, *prefix, *devices)
	if err != nil {
		return err
	}
	s, err := loadgen.Run(ctx, loadgen.Config{
		Broker: *broker, HostName: cs.HostName, TLS: tlsConf, Devices: devs,
		TelemetryRate: *rate, ReportedRate: *reported, QoS: byte(*qos), PayloadSize: *size,
		Duration: *duration, MessagesPerDevice: *messages, AnswerMethods: *methods,
		Progress: stderr,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	if *cleanup {
		// The run's context may be over (Ctrl+C); deleting still gets a while.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := reg.Delete(dctx, devs); err != nil {
			return err
		}
	}
	return nil
}

// hostOf is the host of an MQTT address ("host:port", "scheme://host:port").
func hostOf(addr string) string {
	if _, after, ok := strings.Cut(addr, "://"); ok {
		addr = after
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
