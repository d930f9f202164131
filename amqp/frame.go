package amqp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types (§2.3.1, §5.3.1).
const (
	frameAMQP byte = 0
	frameSASL byte = 1
)

// frameHeaderSize is the fixed frame header: size(4) doff(1) type(1) channel(2).
const frameHeaderSize = 8

// frame is one decoded frame. body is nil for an empty (heartbeat) frame.
type frame struct {
	typ     byte
	channel uint16
	body    performative
	payload []byte // the bytes after a transfer's performative
}

// errFraming marks input that breaks the frame layer itself; the stream
// cannot be trusted past it, so the connection closes with
// amqp:connection:framing-error.
var errFraming = errors.New("amqp: framing error")

func framingErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errFraming, fmt.Sprintf(format, args...))
}

// readFrame reads one frame of at most max bytes. Errors wrap errFraming
// (bad header, oversize), errDecode (bad performative) or the reader's error.
func readFrame(r io.Reader, max uint32) (frame, error) {
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	size := binary.BigEndian.Uint32(h[0:4])
	doff := h[4]
	f := frame{typ: h[5], channel: binary.BigEndian.Uint16(h[6:8])}
	if size < frameHeaderSize {
		return f, framingErrorf("frame size %d smaller than its header", size)
	}
	if size > max {
		return f, framingErrorf("frame size %d exceeds max-frame-size %d", size, max)
	}
	if doff < 2 || uint32(doff)*4 > size {
		return f, framingErrorf("data offset %d invalid for frame size %d", doff, size)
	}
	buf := make([]byte, size-frameHeaderSize)
	if _, err := io.ReadFull(r, buf); err != nil {
		return f, err
	}
	body := buf[int(doff)*4-frameHeaderSize:] // skip the extended header
	if len(body) == 0 {
		return f, nil
	}
	if f.typ != frameAMQP && f.typ != frameSASL {
		return f, framingErrorf("unknown frame type %d", f.typ)
	}
	p, n, err := decodePerformative(body)
	if err != nil {
		return f, err
	}
	f.body = p
	if n < len(body) {
		if _, ok := p.(*transferFrame); !ok {
			return f, decodeErrorf("%d bytes after a non-transfer performative", len(body)-n)
		}
		f.payload = body[n:]
	}
	return f, nil
}

// appendFrame encodes a frame; a nil body makes an empty frame.
func appendFrame(b []byte, typ byte, channel uint16, body performative, payload []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, typ, byte(channel>>8), byte(channel))
	if body != nil {
		var err error
		if b, err = body.appendAMQP(b); err != nil {
			return b[:start], err
		}
	}
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}
