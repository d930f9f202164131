package main

import (
	"context"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

// syncBuffer is testkit.SyncBuffer: safe to read while goroutines write.
type syncBuffer = testkit.SyncBuffer

// result is what one command run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// json decodes the command's stdout.
func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// ok fails the test unless the command succeeded.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
	return r
}

// failed fails the test unless the command exited 1 with a one-line error naming code.
func (r result) failed(t *testing.T, code string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if !strings.Contains(msg, code) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "iothub-emulator: ") {
		t.Fatalf("stderr %q: want one line naming %s", r.stderr, code)
	}
}

// usage fails the test unless the command exited 2 with a one-line message containing want.
func (r result) usage(t *testing.T, want string) {
	t.Helper()
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Fatalf("stderr %q: want one line containing %q", r.stderr, want)
	}
}

// runCLI runs the command line with a bounded context.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	var out, errOut syncBuffer
	code := runContext(ctx, args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// hubCLI runs a command against the emulator's plain REST port.
func hubCLI(t *testing.T, e *emulator.Emulator, args ...string) result {
	t.Helper()
	return runCLI(t, append(args, "--endpoint", endpointOf(e))...)
}

func endpointOf(e *emulator.Emulator) string { return "http://" + e.Addr(emulator.HTTP) }

// createDevice creates a device with the CLI and returns its primary key.
func createDevice(t *testing.T, e *emulator.Emulator, id string, extra ...string) string {
	t.Helper()
	r := hubCLI(t, e, append([]string{"device-identity", "create", "-d", id}, extra...)...).ok(t)
	var d struct {
		Authentication struct{ SymmetricKey struct{ PrimaryKey string } }
	}
	r.json(t, &d)
	return d.Authentication.SymmetricKey.PrimaryKey
}

// mqttDevice is a device (or module) connected over plain MQTT.
type mqttDevice struct {
	t      *testing.T
	client paho.Client
	got    chan paho.Message
}

// dialDevice connects as deviceID (and moduleID if set), signing with key.
func dialDevice(t *testing.T, e *emulator.Emulator, deviceID, moduleID, key string) *mqttDevice {
	t.Helper()
	id, resource := deviceID, "localhost/devices/"+deviceID
	if moduleID != "" {
		id, resource = deviceID+"/"+moduleID, resource+"/modules/"+moduleID
	}
	tok, err := sas.NewToken(resource, key, "", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := &mqttDevice{t: t, got: make(chan paho.Message, 100)}
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + e.Addr(emulator.MQTT)).
		SetClientID(id).
		SetUsername("localhost/" + id + "/?api-version=2021-04-12").
		SetPassword(tok).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case d.got <- m:
			default:
			}
		})
	d.client = paho.NewClient(opts)
	if tk := d.client.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect %s: %v", id, tk.Error())
	}
	t.Cleanup(func() { d.client.Disconnect(50) })
	return d
}

func (d *mqttDevice) subscribe(filter string, handler paho.MessageHandler) {
	d.t.Helper()
	if tk := d.client.Subscribe(filter, 1, handler); !tk.WaitTimeout(wait) || tk.Error() != nil {
		d.t.Fatalf("subscribe %s: %v", filter, tk.Error())
	}
}

func (d *mqttDevice) publish(topic, payload string) {
	d.t.Helper()
	if tk := d.client.Publish(topic, 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
		d.t.Fatalf("publish %s: %v", topic, tk.Error())
	}
}

// await returns the next message the device receives.
func (d *mqttDevice) await() paho.Message {
	d.t.Helper()
	select {
	case m := <-d.got:
		return m
	case <-time.After(wait):
		d.t.Fatal("no message arrived")
		return nil
	}
}
