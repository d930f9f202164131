// Package emulator wires the hub, its store, the MQTT broker and the REST
// API into one running IoT Hub emulator and owns its lifecycle.
package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
)

// Off disables a listener.
const Off = -1

// Default ports: the ones the official SDKs dial, and two plain ones for
// debugging with mosquitto clients and curl.
const (
	DefaultMQTTSPort = 8883
	DefaultHTTPSPort = 443
	DefaultMQTTPort  = 1883
	DefaultHTTPPort  = 8080
	DefaultAMQPSPort = 5671
	DefaultAMQPPort  = 5672
	DefaultDataDir   = ".iothub-emulator"
	DefaultBind      = "127.0.0.1"
	// DefaultHostName is the host name printed in connection strings. It is
	// an IP address rather than localhost because the Java SDKs refuse a
	// host name without a dot (they take the hub's name from its first
	// label); every SDK accepts it, and the certificate covers it.
	// localhost is accepted too.
	DefaultHostName = "127.0.0.1"
)

// Config is the emulator's whole configuration. Zero values are not
// defaults: start from DefaultConfig.
type Config struct {
	Bind string
	// Ports: 0 picks a free port, Off disables the listener.
	MQTTSPort, HTTPSPort, MQTTPort, HTTPPort int
	// AMQPSPort is AMQP over TLS (IoT Hub's service side and the Event
	// Hubs-compatible endpoint); AMQPPort plain AMQP, for the Event Hubs
	// SDKs' UseDevelopmentEmulator=true. 0 picks a free port, Off disables.
	AMQPSPort, AMQPPort int
	// DataDir holds the database and the generated certificates.
	DataDir string
	// InMemory keeps nothing on disk: no database, and a CA that lives only
	// as long as the process (written to a temporary file for clients).
	InMemory bool
	// HostNames are extra names clients may use for the hub; the generated
	// certificate covers them. The canonical host name is HostNames[0] if
	// set, else DefaultHostName.
	HostNames []string
	// TLSCert and TLSKey replace the generated certificate.
	TLSCert, TLSKey string
	// X509CAs are PEM files of CA certificates (several per file allowed)
	// that certificateAuthority devices' certificates may chain to.
	X509CAs []string
	// PolicyKeys replaces the well-known keys of built-in policies (name →
	// base64 key): the hub's, and the provisioning service's
	// provisioningserviceowner.
	PolicyKeys map[string]string
	// DPSIDScope is the Device Provisioning Service's ID scope ("":
	// dps.DefaultIDScope).
	DPSIDScope string
	// TelemetryMaxMessages and TelemetryMaxAge bound the device-to-cloud
	// message log (0: the log's defaults, 10000 messages and 24 h).
	TelemetryMaxMessages int
	TelemetryMaxAge      time.Duration
	// Partitions is the partition count of the Event Hubs-compatible
	// endpoint, 1 to 32 (IoT Hub's default, 4, in DefaultConfig). Changing
	// it renumbers the stored telemetry's partition places at start.
	Partitions int
	// ConsumerGroups are the endpoint's consumer groups besides $Default:
	// 1 to 50 letters, digits, '.', '_' or '-' each.
	ConsumerGroups []string
	// EventHubName is the endpoint's Event Hubs-compatible name ("":
	// iothub-ehub-{hub name}). The hub's own name is accepted too.
	EventHubName string
	// SessionExpiry is how long the MQTT session (subscriptions, queued
	// QoS 1 messages) of a disconnected clean-session-0 client is kept for
	// it to resume (0: the broker's default, 1 h).
	SessionExpiry time.Duration
	// Strict refuses api-versions the real hub would refuse (by default any
	// api-version is accepted, like Azurite's loose mode).
	Strict bool
	// Tier, if set (F1, S1, S2 or S3), throttles operations at that tier's
	// published rates for one unit, as a real hub would; off by default.
	Tier string
	// SeedFile, if set, is a seed document (YAML or JSON) applied at every
	// start, before serving: the identities it lists are reset to it.
	SeedFile string
	// FileUploadStorage, if set, is the connection string of the storage
	// account file uploads go to (Azurite's UseDevelopmentStorage=true, or
	// AccountName, AccountKey and BlobEndpoint): the hub hands out SAS URIs
	// of that account. Unset, uploads go to the emulator's built-in blob
	// endpoint.
	FileUploadStorage string
	// DebugLog, if set, is a file that receives every REST request and MQTT
	// packet as JSON lines, SAS signatures redacted.
	DebugLog string
	// Logger receives the emulator's logs; nil discards them.
	Logger *slog.Logger

	// listen binds a listener; nil is net.Listen. Tests replace it to see
	// how the emulator meets a port it may not bind.
	listen func(network, address string) (net.Listener, error)
}

// DefaultConfig is the configuration `iothub-emulator` runs with.
func DefaultConfig() Config {
	return Config{
		Bind:      DefaultBind,
		MQTTSPort: DefaultMQTTSPort,
		HTTPSPort: DefaultHTTPSPort,
		MQTTPort:  DefaultMQTTPort,
		HTTPPort:  DefaultHTTPPort,
		AMQPSPort: DefaultAMQPSPort,
		AMQPPort:  DefaultAMQPPort,
		DataDir:   DefaultDataDir,

		Partitions: d2c.DefaultPartitions,
	}
}

// Validate checks the configuration once, with messages that say how to fix it.
func (c Config) Validate() error {
	var errs []error
	if net.ParseIP(c.Bind) == nil && c.Bind != "localhost" {
		errs = append(errs, fmt.Errorf("--bind %q is not an IP address", c.Bind))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"--mqtts-port", c.MQTTSPort}, {"--https-port", c.HTTPSPort}, {"--mqtt-port", c.MQTTPort}, {"--http-port", c.HTTPPort}, {"--amqps-port", c.AMQPSPort}, {"--amqp-port", c.AMQPPort}} {
		if p.port != Off && (p.port < 0 || p.port > 65535) {
			errs = append(errs, fmt.Errorf("%s %d is not a port (0-65535, or off)", p.name, p.port))
		}
	}
	if c.MQTTSPort == Off && c.HTTPSPort == Off && c.MQTTPort == Off && c.HTTPPort == Off && c.AMQPSPort == Off && c.AMQPPort == Off {
		errs = append(errs, errors.New("every listener is off; enable at least one port"))
	}
	if c.TelemetryMaxMessages < 0 || c.TelemetryMaxAge < 0 {
		errs = append(errs, errors.New("telemetry retention must not be negative"))
	}
	if c.Partitions < 1 || c.Partitions > d2c.MaxPartitions {
		errs = append(errs, fmt.Errorf("--partitions %d is not between 1 and %d", c.Partitions, d2c.MaxPartitions))
	}
	if _, err := d2c.ConsumerGroupNames(c.ConsumerGroups); err != nil {
		errs = append(errs, fmt.Errorf("--consumer-groups: %w", err))
	}
	// The derived name is checked too: a --hostname can make a bad one.
	if err := eventhubs.CheckName(c.eventHubName()); err != nil {
		errs = append(errs, fmt.Errorf("--event-hub-name: %w", err))
	}
	if c.FileUploadStorage != "" {
		if _, err := blobstore.ParseConnectionString(c.FileUploadStorage); err != nil {
			errs = append(errs, fmt.Errorf("--file-upload-storage: %w", err))
		}
	}
	if c.SessionExpiry < 0 {
		errs = append(errs, errors.New("--session-expiry must not be negative"))
	}
	switch strings.ToUpper(c.Tier) {
	case "", "F1", "S1", "S2", "S3":
	default:
		errs = append(errs, fmt.Errorf("--tier %q is not F1, S1, S2 or S3", c.Tier))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if !c.InMemory && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty; give a folder, or use --in-memory"))
	}
	for _, h := range c.HostNames {
		if h == "" || strings.ContainsAny(h, "/ ;") {
			errs = append(errs, fmt.Errorf("--hostname %q is not a host name", h))
		}
	}
	return errors.Join(errs...)
}

// hostName is the canonical host name of the hub.
func (c Config) hostName() string {
	if len(c.HostNames) > 0 {
		return c.HostNames[0]
	}
	return DefaultHostName
}

// DefaultHubName is the hub's name when its host name does not give one
// (an IP address, localhost).
const DefaultHubName = "iothub-emulator"

// hubName is the hub's name: the first label of its host name, as IoT Hub
// host names are {hub}.azure-devices.net, unless that is an address.
func (c Config) hubName() string {
	h := c.hostName()
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return DefaultHubName
	}
	label, _, _ := strings.Cut(h, ".")
	if label, _, _ = strings.Cut(label, ":"); label == "" {
		return DefaultHubName
	}
	return label
}

// eventHubName is the Event Hubs-compatible name of the hub's endpoint.
func (c Config) eventHubName() string {
	if c.EventHubName != "" {
		return c.EventHubName
	}
	return eventhubs.DefaultName(c.hubName())
}

// hubPolicyKeys are the PolicyKeys of the hub's policies, without the
// provisioning service's.
func (c Config) hubPolicyKeys() map[string]string {
	out := make(map[string]string, len(c.PolicyKeys))
	for name, key := range c.PolicyKeys {
		if name != dps.PolicyName {
			out[name] = key
		}
	}
	return out
}

// dashboardNeedsLogin: the dashboard acts as the well-known owner only on
// loopback with the well-known keys; otherwise it asks for a connection
// string.
func (c Config) dashboardNeedsLogin() bool {
	if len(c.hubPolicyKeys()) > 0 {
		return true
	}
	if strings.EqualFold(c.Bind, "localhost") {
		return false
	}
	ip := net.ParseIP(c.Bind)
	return ip == nil || !ip.IsLoopback()
}

// acceptedHosts are the names SAS tokens may carry.
func (c Config) acceptedHosts() []string {
	out := []string{c.hostName()}
	for _, h := range append([]string{DefaultHostName, "localhost", "127.0.0.1", "::1"}, c.HostNames...) {
		dup := false
		for _, o := range out {
			dup = dup || strings.EqualFold(o, h)
		}
		if !dup {
			out = append(out, h)
		}
	}
	return out
}

// ParsePort reads a port flag value: a number, or "off".
func ParsePort(s string) (int, error) {
	if strings.EqualFold(s, "off") {
		return Off, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (0-65535, or off)", s)
	}
	return n, nil
}
