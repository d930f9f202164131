package amqphub

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/wsconn"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// Hub is what the AMQP head needs of the hub.
type Hub interface {
	// HostName is the hub's canonical host name.
	HostName() string
	// AuthorizeAMQP checks a SAS token for a path, as REST does, in either
	// signing convention (IoT Hub SDKs, Event Hubs SDKs).
	AuthorizeAMQP(token, path string, need registry.Permission) error
	// Policies are the hub's shared access policies.
	Policies() registry.Policies

	// The device side, as the MQTT broker reaches it: authentication,
	// connection state, telemetry and the twin.
	AuthenticateDevice(deviceID, moduleID, token string) (time.Time, error)
	AuthenticateDeviceX509(deviceID, moduleID string, chain []*x509.Certificate) error
	SetConnected(ctx context.Context, deviceID, moduleID string, connected bool, modelID string)
	ReceiveTelemetry(ctx context.Context, deviceID, moduleID string, t hub.Telemetry) error
	DeviceTwin(ctx context.Context, deviceID, moduleID string) ([]byte, error)
	PatchReported(ctx context.Context, deviceID, moduleID string, patch []byte) (int64, error)
}

// Options configure a Server. Hub, C2D, Telemetry and EventHubs are required.
type Options struct {
	Hub       Hub
	C2D       *c2d.Queues
	Telemetry *d2c.Log
	EventHubs *eventhubs.Endpoint
	// FileUploads, if set, is delivered on
	// /messages/serviceBound/filenotifications; unset, that link attaches
	// and delivers nothing.
	FileUploads FileNotifications
	// RedirectPort tells the AMQPS port named in the amqp:link:redirect
	// sent to clients of messages/events (nil: IoT Hub's 5671). It is asked
	// at each redirect, as the port may be bound after the server is built.
	RedirectPort func() int
	Logger       *slog.Logger
	Now          func() time.Time
}

// Server serves IoT Hub's AMQP endpoints.
type Server struct {
	hub          Hub
	c2d          *c2d.Queues
	telemetry    *d2c.Log
	eh           *eventhubs.Endpoint
	files        FileNotifications
	redirectPort func() int
	log          *slog.Logger
	now          func() time.Time

	amqp       *amqp.Server
	cbs        *amqp.RequestResponseNode
	management *amqp.RequestResponseNode
	receivers  *eventhubs.Receivers[*amqp.Sender]
	devs       *deviceLinks
	calls      methodCalls

	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	wg        sync.WaitGroup
}

// New returns a Server; it serves nothing until Serve or ServeConn.
func New(opts Options) (*Server, error) {
	var missing []error
	for _, d := range []struct {
		name string
		ok   bool
	}{{"Hub", opts.Hub != nil}, {"C2D", opts.C2D != nil}, {"Telemetry", opts.Telemetry != nil}, {"EventHubs", opts.EventHubs != nil}} {
		if !d.ok {
			missing = append(missing, fmt.Errorf("amqphub: Options.%s is required", d.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	s := &Server{
		hub: opts.Hub, c2d: opts.C2D, telemetry: opts.Telemetry, eh: opts.EventHubs, files: opts.FileUploads,
		redirectPort: opts.RedirectPort, log: opts.Logger, now: opts.Now,
		receivers: eventhubs.NewReceivers[*amqp.Sender](),
		devs:      newDeviceLinks(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.redirectPort == nil {
		s.redirectPort = func() int { return 5671 }
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cbs = amqp.NewRequestResponseNode(s.cbsPutToken, s.log)
	s.management = amqp.NewRequestResponseNode(s.manage, s.log)
	s.amqp = amqp.NewServer(amqp.Config{
		ContainerID: opts.Hub.HostName(),
		// IoT Hub's limits: 256 KB frames in, C2D messages of 64 KB plus
		// properties, and a 4-minute idle timeout.
		MaxFrameSize:   256 * 1024,
		IdleTimeout:    4 * time.Minute,
		SASLMechanisms: []amqp.Symbol{amqp.SASLMSSBCBS, amqp.SASLPlain, amqp.SASLAnonymous, amqp.SASLExternal},
		Authenticate:   s.authenticate,
		AllowNoSASL:    true, // the Node service client sends a bare AMQP header
		MaxMessageSize: 1 << 20,
		Logger:         s.log,
		Handler:        handler{s},
	})
	return s, nil
}

// Serve serves AMQP on an already-bound listener (TLS already terminated
// by the caller for AMQPS) until Close, which also closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return errors.New("amqphub: server closed")
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.amqp.Serve(s.ctx, ln); err != nil && s.ctx.Err() == nil {
			s.log.Error("amqp listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// WebSocketSubprotocol is AMQP over WebSockets' subprotocol.
const WebSocketSubprotocol = "AMQPWSB10"

// WebSocketHandler serves AMQP over WebSockets (subprotocol AMQPWSB10) on
// whatever path the caller routes to it.
func (s *Server) WebSocketHandler() http.Handler {
	up := websocket.Upgrader{
		HandshakeTimeout: 30 * time.Second,
		Subprotocols:     []string{WebSocketSubprotocol},
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil { // Upgrade has answered the request
			s.log.Debug("amqp websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
			return
		}
		c := wsconn.New(ws, r.TLS)
		s.wg.Add(1)
		defer s.wg.Done()
		var opts []amqp.ConnOption
		if r.TLS != nil {
			opts = append(opts, amqp.WithTLSState(r.TLS))
		}
		if err := s.amqp.ServeConn(s.ctx, c, opts...); err != nil {
			s.log.Debug("amqp websocket connection ended", "remote", r.RemoteAddr, "err", err)
		}
	})
}

// IsWebSocket reports whether an upgrade request asks for AMQP.
func IsWebSocket(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if strings.EqualFold(p, WebSocketSubprotocol) {
			return true
		}
	}
	return false
}

// Close stops the listeners, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	lns := s.listeners
	s.mu.Unlock()
	s.cancel()
	var errs []error
	for _, ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// handler routes each attach by its address.
type handler struct{ s *Server }

// AttachIncoming routes the links a client sends on.
func (h handler) AttachIncoming(ctx context.Context, l *amqp.Link) (amqp.Receiver, *amqp.Error) {
	s := h.s
	addr := ""
	if l.Target != nil {
		addr = l.Target.Address
	}
	path := linkPath(addr)
	lower := strings.ToLower(path)
	switch {
	case lower == pathCBS:
		return s.cbs.AttachIncoming(ctx, l)
	case s.isManagement(addr):
		return s.management.AttachIncoming(ctx, l)
	case lower == pathDevicebound:
		if err := s.authorize(l.Conn, pathDevicebound); err != nil {
			return nil, err
		}
		return c2dReceiver{s}, nil
	case isEventsPath(lower):
		if err := s.authorize(l.Conn, pathEvents); err != nil {
			return nil, err
		}
		s.goLink(func() { s.redirect(l, path) })
		return amqp.ReceiverFunc(func(context.Context, *amqp.Message) amqp.DeliveryState { return &amqp.Released{} }), nil
	case isDevicePath(lower):
		return s.attachDeviceIncoming(l, path)
	}
	return nil, amqp.NewError(amqp.CondNotFound, "no IoT Hub endpoint takes messages at %q", addr)
}

// AttachOutgoing routes the links a client receives on.
func (h handler) AttachOutgoing(ctx context.Context, snd *amqp.Sender) *amqp.Error {
	s := h.s
	addr := ""
	if snd.Source != nil {
		addr = snd.Source.Address
	}
	path := linkPath(addr)
	lower := strings.ToLower(path)
	switch {
	case lower == pathCBS:
		return s.cbs.AttachOutgoing(ctx, snd)
	case s.isManagement(addr):
		return s.management.AttachOutgoing(ctx, snd)
	case lower == pathFeedback:
		if err := s.authorize(snd.Conn, pathFeedback); err != nil {
			return err
		}
		s.goLink(func() { s.serveFeedback(snd) })
		return nil
	case lower == pathFileNotifications:
		if err := s.authorize(snd.Conn, pathFileNotifications); err != nil {
			return err
		}
		if s.files != nil {
			s.goLink(func() { s.serveFileNotifications(snd) })
		}
		return nil
	case isEventsPath(lower):
		if err := s.authorize(snd.Conn, pathEvents); err != nil {
			return err
		}
		s.goLink(func() { s.redirect(snd.Link, path) })
		return nil
	case isDevicePath(lower):
		return s.attachDeviceOutgoing(snd, path)
	}
	return s.attachPartition(snd, addr)
}

// goLink runs a link's work on its own goroutine, counted for Close.
func (s *Server) goLink(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}
