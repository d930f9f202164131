package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

func startEmulator(t *testing.T) *emulator.Emulator {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, emulator.Off, 0
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
	if cs.HostName != "localhost" || cs.DeviceID != "myDeviceId" || cs.SharedAccessKey == "" {
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
	for _, args := range [][]string{{"bogus"}, {"device"}, {"device", "create"}, {"serve", "--mqtts-port", "high"}, {"serve", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
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
