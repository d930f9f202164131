package amqphub

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/sas"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// wait bounds every blocking step of these tests.
const wait = 10 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("IOTHUB_EMULATOR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is a hub with its AMQP head on a loopback port.
type fixture struct {
	t       *testing.T
	hub     *hub.Hub
	devices *hubtest.Devices
	log     *d2c.Log
	eh      *eventhubs.Endpoint
	srv     *Server
	files   *fileupload.Manager
	addr    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	devices := hubtest.NewDevices()
	f := buildFixture(t, devices)
	f.devices = devices
	return f
}

// newDeviceFixture is a fixture whose hub reaches devices through the AMQP
// head, as the emulator wires it: a device link router holding the server.
func newDeviceFixture(t *testing.T) *fixture {
	t.Helper()
	router := devicelink.NewRouter()
	f := buildFixture(t, router)
	router.Add(f.srv)
	return f
}

func buildFixture(t *testing.T, devices hub.Devices) *fixture {
	t.Helper()
	st := store.OpenMemory()
	tl, err := d2c.Open(d2c.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	h := hubtest.Open(t, hub.Options{Store: st, Telemetry: tl, Devices: devices, HostNames: []string{"127.0.0.1", "localhost"}})
	eh, err := eventhubs.New(eventhubs.Config{Name: "iothub-ehub-test", HubName: "test", Log: tl, CreatedAt: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := blobstore.ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fileupload.New(fileupload.Options{Store: st, Storage: fileupload.External{Account: acct}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Hub: h, C2D: h.C2D(), Telemetry: tl, EventHubs: eh, FileUploads: files, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fixture{t: t, hub: h, log: tl, eh: eh, srv: srv, files: files, addr: ln.Addr().String()}
}

// token is a SAS token of a built-in policy for resource (a host, or a
// URI such as sb://host/entity).
func (f *fixture) token(policy, resource string) string {
	f.t.Helper()
	p, ok := f.hub.Policies().Find(policy)
	if !ok {
		f.t.Fatalf("no policy %s", policy)
	}
	tok, err := sas.NewToken(resource, p.PrimaryKey, p.Name, time.Now().Add(time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *fixture) key(policy string) string {
	p, _ := f.hub.Policies().Find(policy)
	return p.PrimaryKey
}

func (f *fixture) dial(opts *goamqp.ConnOptions) *goamqp.Conn {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := goamqp.Dial(ctx, "amqp://"+f.addr, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

func (f *fixture) session(c *goamqp.Conn) *goamqp.Session {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// putToken puts a token on $cbs as the SDKs do and returns the reply's
// status code.
func (f *fixture) putToken(s *goamqp.Session, audience, token string) int32 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	snd, err := s.NewSender(ctx, "$cbs", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer snd.Close(ctx)
	rcv, err := s.NewReceiver(ctx, "$cbs", &goamqp.ReceiverOptions{TargetAddress: "cbs-reply"})
	if err != nil {
		f.t.Fatal(err)
	}
	defer rcv.Close(ctx)
	msg := &goamqp.Message{
		Properties:            &goamqp.MessageProperties{MessageID: uint64(7), ReplyTo: ptr("cbs-reply")},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": audience},
		Value:                 token,
	}
	if err := snd.Send(ctx, msg, nil); err != nil {
		f.t.Fatal(err)
	}
	reply, err := rcv.Receive(ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	_ = rcv.AcceptMessage(ctx, reply)
	if id, ok := reply.Properties.CorrelationID.(uint64); !ok || id != 7 {
		f.t.Errorf("cbs reply correlation-id %#v, want uint64 7", reply.Properties.CorrelationID)
	}
	code, _ := reply.ApplicationProperties["status-code"].(int32)
	return code
}

func ptr[T any](v T) *T { return &v }
