package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// readAll reads every event of a stream and the error that ended it.
func readAll(s string) ([]sseEvent, error) {
	r := newSSEReader(strings.NewReader(s))
	var out []sseEvent
	for range 10000 {
		ev, err := r.next()
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, errors.New("too many events")
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sseEvent
	}{
		{"the emulator's form", "id: 1\nevent: message\ndata: {\"a\":1}\n\nid: 2\nevent: message\ndata: {}\n\n",
			[]sseEvent{{"1", "message", `{"a":1}`}, {"2", "message", "{}"}}},
		{"heartbeat comments", ": heartbeat\n\nid: 3\n: in between\ndata: x\n\n: heartbeat\n\n", []sseEvent{{"3", "", "x"}}},
		{"CRLF line ends", "id: 4\r\ndata: y\r\n\r\n", []sseEvent{{"4", "", "y"}}},
		{"data lines join", "data: a\ndata: b\ndata\n\n", []sseEvent{{"", "", "a\nb\n"}}},
		{"no space after the colon", "id:5\ndata:z\n\n", []sseEvent{{"5", "", "z"}}},
		{"only one space is stripped", "data:  two\n\n", []sseEvent{{"", "", " two"}}},
		{"event without data is not dispatched", "event: ping\n\ndata: d\n\n", []sseEvent{{"", "", "d"}}},
		{"unknown fields ignored", "retry: 10\nfoo: bar\ndata: d\n\n", []sseEvent{{"", "", "d"}}},
		{"id with NUL ignored", "id: a\x00b\ndata: d\n\n", []sseEvent{{"", "", "d"}}},
		{"cut off at the end", "data: whole\n\ndata: half", []sseEvent{{"", "", "whole"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.in)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("ended with %v, want EOF", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEReaderRefusesHugeLines(t *testing.T) {
	_, err := readAll("data: " + strings.Repeat("x", maxSSELine) + "\n\n")
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v", err)
	}
	// Just under the limit is fine, across many buffer fills.
	big := strings.Repeat("y", maxSSELine-10)
	got, err := readAll("data: " + big + "\n\n")
	if !errors.Is(err, io.EOF) || len(got) != 1 || got[0].Data != big {
		t.Fatalf("big line: %d events, %v", len(got), err)
	}
}

func FuzzSSEReader(f *testing.F) {
	f.Add("id: 1\nevent: message\ndata: {}\n\n")
	f.Add(": c\r\n\r\ndata:x\ndata\n\n")
	f.Add("data: a\rdata: b\n\n\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := readAll(s)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("error %v on a small input", err)
		}
		for _, ev := range got {
			if strings.ContainsAny(ev.ID, "\n\x00") || strings.Contains(ev.Event, "\n") {
				t.Fatalf("event %q", ev)
			}
		}
		// Events written in the stream format read back unchanged.
		var b strings.Builder
		for _, ev := range got {
			if strings.ContainsRune(ev.ID+ev.Event+ev.Data, '\r') {
				return
			}
			fmt.Fprintf(&b, "id: %s\nevent: %s\n", ev.ID, ev.Event)
			for _, line := range strings.Split(ev.Data, "\n") {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
			b.WriteString("\n")
		}
		again, err := readAll(b.String())
		if !errors.Is(err, io.EOF) || !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip: %q then %q (%v)", got, again, err)
		}
	})
}
