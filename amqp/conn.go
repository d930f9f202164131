package amqp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// closeGrace is how long we wait for the peer's close after sending ours.
const closeGrace = 2 * time.Second

// conn runs one connection.
type conn struct {
	cfg    Config
	nc     net.Conn
	br     *bufio.Reader
	info   *ConnInfo
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	sessions     map[uint16]*session // by the peer's channel
	ended        map[uint16]bool     // peer channels whose session ended, until reused
	ours         map[uint16]*session // by our channel
	peerMaxFrame uint32
	peerMaxChan  uint16
	peerIdleMS   uint32
	closeSent    bool
	torndown     bool
	changed      chan struct{} // closed and replaced on every flow-state change
	// While held, send appends frames to heldFrames instead of queuing
	// each: a burst goes to the writer as one buffer (see hold).
	held       bool
	heldFrames []byte

	w *writer
}

func newConn(ctx context.Context, cfg Config, nc net.Conn, info *ConnInfo) *conn {
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{
		cfg: cfg, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), info: info,
		log: cfg.Logger.With("remote", nc.RemoteAddr().String()), ctx: ctx, cancel: cancel,
		sessions: map[uint16]*session{}, ours: map[uint16]*session{},
		peerMaxFrame: minMaxFrameSize, changed: make(chan struct{}),
	}
	c.w = newWriter(nc, cfg.WriteTimeout, func(err error) {
		c.log.Debug("amqp: write failed", "error", err)
		_ = nc.Close() // unblocks the reader
	})
	info.closeFn = func(e *Error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fail(e)
	}
	return c
}

// broadcast wakes everything waiting for flow state; caller holds mu.
func (c *conn) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// send queues a frame; caller holds mu (so frames keep protocol order).
// It never blocks on the socket.
func (c *conn) send(channel uint16, p performative, payload []byte) {
	b, err := appendFrame(c.heldFrames, frameAMQP, channel, p, payload)
	if err != nil {
		// Only a handler-supplied value (properties, error info) can fail to
		// encode; the frame is dropped rather than the connection.
		c.log.Error("amqp: cannot encode frame", "type", fmt.Sprintf("%T", p), "error", err)
		return
	}
	if c.held && len(b) < coalesceLimit {
		c.heldFrames = b
		return
	}
	c.heldFrames = nil // a long burst goes out in writes of coalesceLimit or so
	c.w.enqueue(b)
}

// hold makes send collect frames until release, so that a burst (a run of
// transfers) reaches the writer as one buffer: one write, one TLS record
// per 16 KiB rather than one per frame, and one wake-up of the writer.
// Caller holds mu, and must release before it unlocks mu, or frames queued
// by others would overtake the held ones.
// sizeHint, if known, is about how many bytes will be held.
func (c *conn) hold(sizeHint int) {
	c.held = true
	if c.heldFrames == nil && sizeHint > 0 {
		c.heldFrames = make([]byte, 0, min(sizeHint, coalesceLimit))
	}
}

// release queues the held frames; caller holds mu.
func (c *conn) release() {
	c.held = false
	if len(c.heldFrames) > 0 {
		c.w.enqueue(c.heldFrames)
	}
	c.heldFrames = nil // the writer owns it now
}

// fail closes the connection with e: close frame now, teardown when the
// peer answers or after closeGrace. Caller holds mu.
func (c *conn) fail(e *Error) {
	if c.closeSent || c.torndown {
		return
	}
	c.log.Debug("amqp: closing connection", "error", e)
	c.send(0, &closeFrame{Error: e}, nil)
	c.closeSent = true
	_ = c.nc.SetReadDeadline(time.Now().Add(closeGrace))
}

// run drives the connection until it ends.
func (c *conn) run() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	if err := c.handshake(); err != nil {
		return err
	}
	c.w.start()
	f, err := readFrame(c.br, c.cfg.MaxFrameSize)
	open, ok := f.body.(*openFrame)
	c.mu.Lock()
	c.sendOpen()
	if err == nil && !ok {
		err = fmt.Errorf("%w: first frame is %T, not open", errNotOpen, f.body)
	}
	if err != nil {
		c.fail(frameError(err))
		c.mu.Unlock()
		c.drainUntilClose()
		return err
	}
	c.onOpen(open)
	c.mu.Unlock()
	_ = c.nc.SetDeadline(time.Time{})
	if c.peerIdle() > 0 {
		go c.heartbeat(c.peerIdle() / 2)
	}
	go func() {
		select {
		case <-c.ctx.Done():
			c.mu.Lock()
			c.fail(NewError(CondConnectionForced, "server shutting down"))
			c.mu.Unlock()
		case <-c.info.done:
		}
	}()
	return c.readLoop()
}

var errNotOpen = errors.New("amqp: protocol violation")

func (c *conn) sendOpen() {
	var idle uint32
	if c.cfg.IdleTimeout > 0 {
		idle = uint32(c.cfg.IdleTimeout.Milliseconds())
	}
	c.send(0, &openFrame{ContainerID: c.cfg.ContainerID, MaxFrameSize: c.cfg.MaxFrameSize,
		ChannelMax: c.cfg.ChannelMax, IdleTimeout: idle}, nil)
}

func (c *conn) onOpen(o *openFrame) {
	c.peerMaxFrame = max(o.MaxFrameSize, minMaxFrameSize)
	c.peerMaxChan = o.ChannelMax
	c.peerIdleMS = o.IdleTimeout
	c.info.mu.Lock()
	c.info.hostname = o.Hostname
	c.info.containerID = o.ContainerID
	c.info.properties = o.Properties
	c.info.mu.Unlock()
}

func (c *conn) peerIdle() time.Duration {
	d := time.Duration(c.peerIdleMS) * time.Millisecond
	if d > 0 && d < 20*time.Millisecond {
		d = 20 * time.Millisecond // a floor so a silly value cannot spin us
	}
	return d
}

// frameError maps a read failure to the close error the spec asks for.
func frameError(err error) *Error {
	switch {
	case errors.Is(err, errFraming):
		return NewError(CondFramingError, "%v", err)
	case errors.Is(err, errDecode):
		return NewError(CondDecodeError, "%v", err)
	case errors.Is(err, errNotOpen):
		return NewError(CondNotAllowed, "%v", err)
	}
	return NewError(CondInternalError, "%v", err)
}

// drainUntilClose reads and drops frames until the peer's close, EOF or the
// close grace, so our close frame is not cut off by a reset.
func (c *conn) drainUntilClose() {
	_ = c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	for range 1000 {
		f, err := readFrame(c.br, c.cfg.MaxFrameSize)
		if err != nil {
			return
		}
		if _, ok := f.body.(*closeFrame); ok {
			return
		}
	}
}

func (c *conn) readLoop() error {
	idle := c.cfg.IdleTimeout
	for {
		c.mu.Lock()
		closing := c.closeSent
		c.mu.Unlock()
		if idle > 0 && !closing {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		f, err := readFrame(c.br, c.cfg.MaxFrameSize)
		if err != nil {
			c.mu.Lock()
			closing := c.closeSent
			var ne net.Error
			switch {
			case closing:
				err = nil // our close went out; the peer just did not answer
			case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
				c.fail(NewError(CondResourceLimitExceeded, "no frame within idle-time-out %v", idle))
				err = fmt.Errorf("amqp: peer idle for %v: %w", idle, err)
			case errors.Is(err, errFraming) || errors.Is(err, errDecode):
				c.fail(frameError(err))
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("amqp: peer closed the socket without close: %w", err)
			}
			c.mu.Unlock()
			return err
		}
		if f.body == nil {
			continue // heartbeat
		}
		c.mu.Lock()
		done := c.dispatch(f)
		c.mu.Unlock()
		if done {
			return nil
		}
	}
}

// dispatch handles one frame; true means the connection is closed.
func (c *conn) dispatch(f frame) bool {
	if cl, ok := f.body.(*closeFrame); ok {
		if !c.closeSent {
			c.send(0, &closeFrame{}, nil)
			c.closeSent = true
		}
		if cl.Error != nil {
			c.log.Debug("amqp: peer closed with error", "error", cl.Error)
		}
		return true
	}
	if c.closeSent {
		return false // after our close only the peer's close matters
	}
	if f.typ != frameAMQP {
		c.fail(NewError(CondFramingError, "SASL frame after the SASL layer"))
		return false
	}
	switch p := f.body.(type) {
	case *openFrame:
		c.fail(NewError(CondNotAllowed, "second open"))
	case *beginFrame:
		c.onBegin(f.channel, p)
	default:
		s := c.sessions[f.channel]
		if s == nil && c.ended[f.channel] {
			// A frame the peer sent before it saw the session end (rhea's
			// dispositions for transfers in flight, pyamqp's detach after
			// its end): there is nothing left for it to act on.
			c.log.Debug("amqp: frame for an ended session dropped", "frame", fmt.Sprintf("%T", f.body), "channel", f.channel)
			return false
		}
		if s == nil {
			c.fail(NewError(CondNotAllowed, "%T on channel %d, which has no session", f.body, f.channel))
			return false
		}
		s.handle(f.body, f.payload)
	}
	return false
}

func (c *conn) onBegin(ch uint16, p *beginFrame) {
	if p.RemoteChannel != nil {
		c.fail(NewError(CondNotAllowed, "begin answering a session we never began"))
		return
	}
	if ch > c.cfg.ChannelMax {
		c.fail(NewError(CondNotAllowed, "channel %d exceeds channel-max %d", ch, c.cfg.ChannelMax))
		return
	}
	if _, used := c.sessions[ch]; used {
		c.fail(NewError(CondNotAllowed, "channel %d already has a session", ch))
		return
	}
	var local uint16
	limit := min(c.cfg.ChannelMax, c.peerMaxChan)
	for ; local < limit; local++ {
		if _, used := c.ours[local]; !used {
			break
		}
	}
	if _, used := c.ours[local]; used {
		c.fail(NewError(CondResourceLimitExceeded, "no free channel"))
		return
	}
	s := &session{
		c: c, local: local, remote: ch,
		nextIncomingID: p.NextOutgoingID, incomingWindow: c.cfg.SessionWindow,
		remoteIncomingWindow: p.IncomingWindow, peerHandleMax: p.HandleMax,
		unsettledOut: map[uint32]*outDelivery{}, links: map[uint32]*Link{}, outHandles: map[uint32]*Link{},
	}
	c.sessions[ch] = s
	c.ours[local] = s
	delete(c.ended, ch)
	rc := ch
	c.send(local, &beginFrame{RemoteChannel: &rc, NextOutgoingID: s.nextOutgoingID,
		IncomingWindow: s.incomingWindow, OutgoingWindow: bigWindow, HandleMax: c.cfg.HandleMax}, nil)
}

func (c *conn) removeSession(s *session) {
	if c.ended == nil {
		c.ended = map[uint16]bool{}
	}
	c.ended[s.remote] = true
	delete(c.sessions, s.remote)
	delete(c.ours, s.local)
}

// runAttach asks the handler about a link, off the reader goroutine.
func (c *conn) runAttach(l *Link) {
	var recv Receiver
	var refuse *Error
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("amqp: attach handler panicked", "link", l.Name, "panic", r)
				recv, refuse = nil, NewError(CondInternalError, "attach handler failed")
			}
		}()
		switch {
		case c.cfg.Handler == nil:
			refuse = NewError(CondNotImplemented, "no handler")
		case l.incoming:
			recv, refuse = c.cfg.Handler.AttachIncoming(l.ctx, l)
			if recv == nil && refuse == nil {
				refuse = NewError(CondInternalError, "handler returned no receiver")
			}
		default:
			refuse = c.cfg.Handler.AttachOutgoing(l.ctx, &Sender{l})
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.torndown {
		return
	}
	l.sess.finishAttach(l, recv, refuse)
}

func (c *conn) heartbeat(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	empty, _ := appendFrame(nil, frameAMQP, 0, nil, nil)
	for {
		select {
		case <-t.C:
			c.w.enqueue(empty)
		case <-c.info.done:
			return
		}
	}
}

// teardown ends everything: links, writer (after it flushed, bounded by
// the write timeout), socket, context.
func (c *conn) teardown() {
	c.mu.Lock()
	c.torndown = true
	for _, s := range c.sessions {
		s.finishLinks(ErrConnClosed)
	}
	c.mu.Unlock()
	c.w.stop()
	_ = c.nc.Close()
	c.cancel()
	close(c.info.done)
}
