package iothubtest

import (
	"log/slog"
	"os"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/emulator"
)

// LogEnv names the environment variable that turns on the emulator's logs in
// tests that do not pass WithLogger: "1" logs at debug level, a level name
// (debug, info, warn, error) at that level. Logs go to standard error.
const LogEnv = "IOTHUB_EMULATOR_TEST_LOG"

// Option configures Start.
type Option func(*config)

type config struct {
	hostNames []string
	logger    *slog.Logger
	dataDir   string
	mutate    []func(*emulator.Config)
}

// WithHostName adds a host name clients may use for the hub; the server
// certificate covers it and SAS tokens may name it. The first one given
// becomes the canonical host name, printed in every connection string.
// localhost is always accepted.
func WithHostName(name string) Option {
	return func(c *config) { c.hostNames = append(c.hostNames, name) }
}

// WithLogger sends the emulator's logs to l. Without it the emulator is
// quiet unless LogEnv is set.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithDataDir keeps the hub in a database under dir instead of in memory, so
// a test can Close the hub and Start another on the same dir to test a
// restart. The CA is kept there too, so it survives the restart.
func WithDataDir(dir string) Option {
	return func(c *config) { c.dataDir = dir }
}

// WithConfig changes the emulator's configuration after every other option
// has been applied: the escape hatch for anything the options above do not
// cover (telemetry retention, policy keys, a listener turned off).
func WithConfig(f func(*emulator.Config)) Option {
	return func(c *config) { c.mutate = append(c.mutate, f) }
}

// emulatorConfig is the configuration Start runs: every listener on a free
// loopback port, in memory unless WithDataDir.
func (c *config) emulatorConfig() emulator.Config {
	cfg := emulator.DefaultConfig()
	cfg.Bind = "127.0.0.1"
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = 0, 0
	cfg.InMemory, cfg.DataDir = true, ""
	if c.dataDir != "" {
		cfg.InMemory, cfg.DataDir = false, c.dataDir
	}
	cfg.HostNames = append([]string(nil), c.hostNames...)
	cfg.Logger = c.logger
	for _, f := range c.mutate {
		f(&cfg)
	}
	return cfg
}

// envLogLevel reads LogEnv: ok is false when logs are not asked for.
func envLogLevel(v string) (level slog.Level, ok bool) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "0", "false", "off":
		return 0, false
	case "1", "true", "on":
		return slog.LevelDebug, true
	}
	if err := level.UnmarshalText([]byte(v)); err != nil {
		// An unknown value still asks for logs; debug shows everything.
		return slog.LevelDebug, true
	}
	return level, true
}

// envLogger is the logger LogEnv asks for, or nil.
func envLogger(testName string) *slog.Logger {
	level, ok := envLogLevel(os.Getenv(LogEnv))
	if !ok {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", testName)
}
