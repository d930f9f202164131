package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func startEmulator(t *testing.T) *emulator.Emulator {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = emulator.Off, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = emulator.Off, emulator.Off
	cfg.InMemory = true
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestDeviceCreatePrintsAWorkingConnectionString(t *testing.T) {
	e := startEmulator(t)
	var out, errOut bytes.Buffer
	code := run([]string{"device", "create", "myDeviceId", "--endpoint", "http://" + e.Addr(emulator.HTTP)}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	cs, err := sas.ParseConnectionString(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if cs.HostName != "127.0.0.1" || cs.DeviceID != "myDeviceId" || cs.SharedAccessKey == "" {
		t.Fatalf("printed %q", out.String())
	}
	// The key is the device's: the hub accepts a token signed with it.
	tok, _ := sas.NewToken("localhost/devices/myDeviceId", cs.SharedAccessKey, "", time.Now().Add(time.Hour))
	if _, err := e.Hub().AuthenticateDevice("myDeviceId", "", tok); err != nil {
		t.Fatalf("printed key does not authenticate: %v", err)
	}

	// Again: a one-line error and a non-zero exit.
	out.Reset()
	errOut.Reset()
	if code := run([]string{"device", "create", "myDeviceId", "--endpoint", "http://" + e.Addr(emulator.HTTP)}, &out, &errOut); code != 1 {
		t.Fatalf("duplicate create exit %d", code)
	}
	if !strings.Contains(errOut.String(), "DeviceAlreadyExists") || strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"}, {"device"}, {"device", "create"}, {"device", "create", "a", "b"}, {"device", "remove", "a"},
		{"serve", "--mqtts-port", "high"}, {"serve", "extra"},
		{"device-identity"}, {"device-identity", "create"}, {"device-identity", "create", "-d", "x", "--status", "odd"},
		{"device-identity", "create", "-d", "x", "--am", "x509_thumbprint"},
		{"device-identity", "create", "-d", "x", "--pk", "k", "--am", "x509_ca"},
		{"device-identity", "show", "-d", "x", "stray"}, {"device-identity", "show", "--nope"},
		{"device-identity", "list", "--top", "0"}, {"device-identity", "connection-string", "show", "-d", "x", "--kt", "third"},
		{"module-identity", "create", "-d", "x"}, {"device-twin", "update", "-d", "x"},
		{"device-twin", "update", "-d", "x", "--desired", "[1]"}, {"device-twin", "update", "-d", "x", "--tags", "{bad"},
		{"device-twin", "replace", "-d", "x"}, {"module-twin", "show", "-d", "x"},
		{"query"}, {"query", "SELECT * FROM devices", "-q", "SELECT 1"}, {"query", "-q", "SELECT * FROM devices", "--page-size", "0"},
		{"invoke-device-method", "-d", "x"}, {"invoke-device-method", "-d", "x", "--mn", "m", "--timeout", "4"},
		{"invoke-device-method", "-d", "x", "--mn", "m", "--mct", "301"}, {"invoke-device-method", "-d", "x", "--mn", "m", "--mp", "{oops"},
		{"invoke-module-method", "-d", "x", "--mn", "m"},
		{"monitor-events", "stray"}, {"monitor-events", "-p", "everything"}, {"monitor-events", "--timeout", "-1"},
		{"monitor-events", "--from-sequence-number", "-3"}, {"monitor-events", "--mc", "-1"}, {"monitor-events", "--et", "0"},
		{"c2d-message", "send"}, {"c2d-message", "send", "-d", "x", "--ack", "maybe"}, {"c2d", "send", "-d", "x", "--props", "novalue"},
		{"c2d", "send", "-d", "x", "--ct", "application/json", "--data", "not json"}, {"c2d", "send", "-d", "x", "--expiry", "-5"},
		{"c2d", "send", "-d", "x", "--data", "a", "--dfp", "main.go"}, {"c2d", "send", "-d", "x", "--dfp", "no-such-file"},
		{"c2d-message", "purge"},
		{"export", "--format", "xml"}, {"import"}, {"import", "--file", "no-such-file.yaml"},
		{"query", "-q", "SELECT 1", "--endpoint", "ftp://x"}, {"query", "-q", "SELECT 1", "--hub", "HostName=h"},
		{"help", "bogus"},
	} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
		if msg := strings.TrimSuffix(errOut.String(), "\n"); args[0] != "serve" && (msg == "" || strings.Contains(msg, "\n")) {
			t.Errorf("%v: stderr %q, want one line", args, errOut.String())
		}
	}
}

func TestEnvironmentFillsFlags(t *testing.T) {
	t.Setenv("IOTHUB_EMULATOR_MQTTS_PORT", "off")
	t.Setenv("IOTHUB_EMULATOR_HTTP_PORT", "9999")
	t.Setenv("IOTHUB_EMULATOR_HOSTNAME", "a.local,b.local")
	cfg := emulator.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(portFlag{&cfg.MQTTSPort}, "mqtts-port", "")
	fs.Var(portFlag{&cfg.HTTPPort}, "http-port", "")
	fs.Var(listFlag{&cfg.HostNames}, "hostname", "")
	if err := fs.Parse([]string{"--http-port", "1234"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if cfg.MQTTSPort != emulator.Off || cfg.HTTPPort != 1234 || strings.Join(cfg.HostNames, ",") != "a.local,b.local" {
		t.Fatalf("cfg = %+v (the command line must win over the environment)", cfg)
	}
	t.Setenv("IOTHUB_EMULATOR_MQTTS_PORT", "nope")
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Var(portFlag{&cfg.MQTTSPort}, "mqtts-port", "")
	_ = fs2.Parse(nil)
	if err := applyEnv(fs2); err == nil {
		t.Fatal("a bad environment value was accepted")
	}
}

func TestPolicyKeysFlag(t *testing.T) {
	var m map[string]string
	f := keysFlag{&m}
	if err := f.Set("iothubowner=abc=,service=def"); err != nil {
		t.Fatal(err)
	}
	if m["iothubowner"] != "abc=" || m["service"] != "def" {
		t.Fatalf("keys = %v", m)
	}
	if err := f.Set("nokey"); err == nil {
		t.Fatal("a pair without '=' was accepted")
	}
}

func TestQueryPagesThroughEverything(t *testing.T) {
	e := startEmulator(t)
	endpoint := "http://" + e.Addr(emulator.HTTP)
	for i := range 7 {
		var out, errOut bytes.Buffer
		if code := run([]string{"device", "create", fmt.Sprintf("q%d", i), "--endpoint", endpoint}, &out, &errOut); code != 0 {
			t.Fatalf("create: %s", errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	code := run([]string{"query", "SELECT deviceId FROM devices WHERE STARTSWITH(deviceId, 'q')", "--page-size", "2", "--endpoint", endpoint}, &out, &errOut)
	if code != 0 {
		t.Fatalf("query exit %d: %s", code, errOut.String())
	}
	var rows []map[string]string
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if len(rows) != 7 || rows[0]["deviceId"] != "q0" || rows[6]["deviceId"] != "q6" {
		t.Fatalf("rows = %v", rows)
	}
	errOut.Reset()
	if code := run([]string{"query", "SELECT * FORM devices", "--endpoint", endpoint}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "ArgumentInvalid") {
		t.Fatalf("bad query: exit %d, %s", code, errOut.String())
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	r := runCLI(t, "help").ok(t)
	testkit.Golden(t, "help.golden", []byte(r.stdout))
	for _, c := range commands() {
		if !strings.Contains(r.stdout, "\n  "+c.path+" ") {
			t.Errorf("help does not list %q", c.path)
		}
	}
}

func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		if c.path == "serve" {
			continue // the serve flags have their own help
		}
		t.Run(c.path, func(t *testing.T) {
			args := append(strings.Fields(c.path), "-h")
			r := runCLI(t, args...).ok(t)
			if !strings.HasPrefix(r.stdout, "Usage: iothub-emulator "+c.path) || r.stderr != "" {
				t.Fatalf("stdout %q, stderr %q", r.stdout, r.stderr)
			}
			offline := c.path == "dps enrollment-group compute-device-key" || c.path == "dps connection-string show"
			if c.path != "device create" && !offline && !strings.Contains(r.stdout, "--endpoint URL") {
				t.Fatalf("help lacks the connection flags:\n%s", r.stdout)
			}
			// "help <command>" shows the same.
			if h := runCLI(t, append([]string{"help"}, strings.Fields(c.path)...)...).ok(t); h.stdout != r.stdout {
				t.Fatalf("help %s differs from %s -h", c.path, c.path)
			}
		})
	}
	testkit.Golden(t, "help-c2d-message-send.golden", []byte(runCLI(t, "c2d-message", "send", "--help").ok(t).stdout))
}

func TestUnreachableEmulatorIsOneLineError(t *testing.T) {
	// A port nothing listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runCLI(t, "device-identity", "show", "-d", "x", "--endpoint", "http://"+addr)
	r.failed(t, "cannot reach the emulator at http://"+addr)
}
