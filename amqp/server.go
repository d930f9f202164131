package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Server serves AMQP 1.0 connections with one Config.
type Server struct {
	cfg Config
}

// NewServer returns a Server; cfg's zero fields take their defaults.
func NewServer(cfg Config) *Server {
	return &Server{cfg: cfg.withDefaults()}
}

// ConnOption adjusts one connection.
type ConnOption func(*connOptions)

type connOptions struct {
	tls    *tls.ConnectionState
	values map[any]any
}

// WithTLSState supplies the TLS state of a connection whose net.Conn is not
// a *tls.Conn (e.g. AMQP over a WebSocket over TLS).
func WithTLSState(st *tls.ConnectionState) ConnOption {
	return func(o *connOptions) { o.tls = st }
}

// WithConnValue seeds a per-connection value (see ConnInfo.Value).
func WithConnValue(key, val any) ConnOption {
	return func(o *connOptions) {
		if o.values == nil {
			o.values = map[any]any{}
		}
		o.values[key] = val
	}
}

// ServeConn runs the whole life of one connection and closes nc. It returns
// nil when the peer closed cleanly, else why the connection ended. When ctx
// ends, the peer is sent close (amqp:connection:forced) and the connection
// is torn down after its answer or a short grace.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, opts ...ConnOption) error {
	var o connOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.tls == nil {
		if tc, ok := nc.(*tls.Conn); ok {
			// The handshake has to finish before the state means anything.
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = nc.Close()
				return fmt.Errorf("amqp: TLS handshake: %w", err)
			}
			st := tc.ConnectionState()
			o.tls = &st
		}
	}
	info := newConnInfo(nc.RemoteAddr(), o.tls)
	for k, v := range o.values {
		info.values[k] = v
	}
	c := newConn(ctx, s.cfg, nc, info)
	defer c.teardown()
	err := c.run()
	if err != nil {
		c.log.Debug("amqp: connection ended", "error", err)
	}
	return err
}

// Serve accepts connections from l and serves each on its own goroutine
// until ctx ends or Accept fails; it then closes l, waits for the
// connections to finish closing, and returns (nil after ctx ended).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("amqp: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ServeConn(ctx, nc)
		}()
	}
}
