package amqp

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// writer owns the socket's write side so that no caller (and above all not
// the reader) ever blocks on a slow peer: enqueue only appends. Every write
// has a deadline, so a peer that stops reading ends its connection instead
// of holding it.
type writer struct {
	nc      net.Conn
	timeout time.Duration
	onErr   func(error)

	buf []byte // run's scratch for joining frames, kept between writes

	mu      sync.Mutex
	queue   [][]byte
	failed  bool
	signal  chan struct{}
	quit    chan struct{}
	exited  chan struct{}
	started bool
}

func newWriter(nc net.Conn, timeout time.Duration, onErr func(error)) *writer {
	return &writer{nc: nc, timeout: timeout, onErr: onErr,
		signal: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
}

func (w *writer) enqueue(b []byte) {
	w.mu.Lock()
	if !w.failed {
		w.queue = append(w.queue, b)
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *writer) take() net.Buffers {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

// start runs the writer; stop waits for it only if it was started.
func (w *writer) start() {
	w.mu.Lock()
	w.started = true
	w.mu.Unlock()
	go w.run()
}

func (w *writer) run() {
	defer close(w.exited)
	for {
		if q := w.take(); len(q) > 0 {
			if !w.write(q) {
				return
			}
			continue
		}
		select {
		case <-w.signal:
			// Let the goroutines already runnable queue their frames first:
			// one event often wakes several links of a connection at once
			// (an append wakes each partition's receiver), and their frames
			// then share one write instead of taking one each.
			runtime.Gosched()
		case <-w.quit:
			if q := w.take(); len(q) > 0 {
				w.write(q)
			}
			return
		}
	}
}

// coalesceLimit bounds the frames joined into one write.
const coalesceLimit = 64 * 1024

func (w *writer) write(q net.Buffers) bool {
	_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	var err error
	if _, tcp := w.nc.(*net.TCPConn); tcp {
		_, err = q.WriteTo(w.nc) // writev
	} else {
		// TLS and WebSocket conns write each buffer on its own (a TLS
		// record, a WebSocket message and a syscall per frame): join
		// small frames into fewer, larger writes.
		w.buf, err = writeCoalesced(w.nc, q, w.buf)
	}
	if err != nil {
		w.mu.Lock()
		w.failed = true
		w.queue = nil
		w.mu.Unlock()
		w.onErr(err)
		return false
	}
	return true
}

// writeCoalesced writes q in as few writes as coalesceLimit allows, joining
// buffers in scratch (returned for reuse); a buffer that would be written
// alone anyway is written as it is, uncopied.
func writeCoalesced(nc net.Conn, q net.Buffers, scratch []byte) ([]byte, error) {
	buf := scratch[:0]
	for i, b := range q {
		if len(buf) > 0 && len(buf)+len(b) > coalesceLimit {
			if _, err := nc.Write(buf); err != nil {
				return buf, err
			}
			buf = buf[:0]
		}
		if len(buf) == 0 && (len(b) >= coalesceLimit || i == len(q)-1) {
			if _, err := nc.Write(b); err != nil {
				return buf, err
			}
			continue
		}
		buf = append(buf, b...)
	}
	if len(buf) > 0 {
		_, err := nc.Write(buf)
		return buf, err
	}
	return buf, nil
}

// stop flushes what is queued and waits for the writer to exit.
func (w *writer) stop() {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	close(w.quit)
	if started {
		<-w.exited
	}
}
