package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxSSELine bounds one line of an event stream: the largest telemetry
// message (256 KB) in base64 and as text, with room to spare.
const maxSSELine = 4 << 20

// sseEvent is one server-sent event.
type sseEvent struct {
	ID    string
	Event string // "" when the stream did not name it ("message" by the standard)
	Data  string
}

// sseReader reads the text/event-stream format: fields "id", "event" and
// "data" (repeated data lines join with '\n'), comments starting with ':',
// and a blank line ending each event.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next event with data. It returns io.EOF when the stream
// ends; an event cut off by the end is dropped.
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for {
		line, err := s.line()
		if err != nil {
			return sseEvent{}, err
		}
		if line == "" {
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			ev = sseEvent{} // an event without data is not dispatched
			continue
		}
		if line[0] == ':' {
			continue // comment (the emulator's heartbeat)
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		}
	}
}

// line reads one line without its end (LF or CRLF), refusing lines over maxSSELine.
func (s *sseReader) line() (string, error) {
	var buf []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxSSELine {
			return "", fmt.Errorf("event stream line longer than %d bytes", maxSSELine)
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return string(bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return "", io.EOF // a line without its end is incomplete
		default:
			return "", err
		}
	}
}
