package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// propsFlag is -p: alone it means all, and it takes sys, app, anno or all,
// comma-separated or (as in az) as the following arguments.
type propsFlag struct {
	set   propertySet
	given bool
}

func (p *propsFlag) String() string { return "" }

func (p *propsFlag) IsBoolFlag() bool { return true }

func (p *propsFlag) Set(s string) error {
	p.given = true
	switch s {
	case "true":
		return nil // bare -p; the values, if any, follow as arguments
	case "false":
		p.given = false
		return nil
	}
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !p.set.add(v) {
			return fmt.Errorf("%q is not one of sys, app, anno, all", v)
		}
	}
	return nil
}

// monitorOptions are the flags of monitor-events.
type monitorOptions struct {
	deviceID, moduleID string
	props              propertySet
	idle               time.Duration // 0: wait forever
	maxMessages        int           // 0: no limit
	query              url.Values
}

// monitorEvents prints device-to-cloud messages as they arrive, one JSON
// document per line, from the emulator's event stream.
func monitorEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "monitor-events"
	f := newCLIFlags(name, "[-d DEVICE] [-m MODULE] [-p sys|app|anno|all]",
		"Print device-to-cloud messages as they arrive, one JSON document per line, like az iot hub monitor-events.\n"+
			"Starts with the next message unless --from-sequence-number or --enqueued-time says otherwise.", stdout)
	deviceID := f.String("device-id,d", "", "DEVICE", "only this device's messages (* and ? are wildcards)")
	moduleID := f.String("module-id,m", "", "MODULE", "only this module's messages (* and ? are wildcards)")
	var props propsFlag
	f.register(&props, "properties,props,p", "[sys|app|anno|all]", "also print system or application properties, or annotations (alone: all)")
	timeout := f.Int("timeout,to,t", 300, "SECONDS", "stop after this many seconds without a message (0: never)")
	count := f.Int("message-count,mc", 0, "N", "stop after N messages")
	fromSeq := f.Int64("from-sequence-number", 0, "N", "start with the stored message of this sequence number")
	enqueued := f.Int64("enqueued-time,et,e", 0, "EPOCH_MS", "start with the stored messages enqueued at or after this time, in milliseconds since the Unix epoch")
	conn := addConnFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	for _, a := range pos {
		if !props.given || !props.set.add(a) {
			return usagef(name, "unexpected argument %q", a)
		}
	}
	if props.given && !props.set.any() {
		props.set.add("all")
	}
	if *timeout < 0 {
		return usagef(name, "--timeout must be 0 (never) or more seconds")
	}
	if *count < 0 {
		return usagef(name, "--message-count must be positive")
	}
	opts := monitorOptions{
		deviceID: *deviceID, moduleID: *moduleID, props: props.set,
		idle: time.Duration(*timeout) * time.Second, maxMessages: *count,
		query: url.Values{},
	}
	if *deviceID != "" && !isPattern(*deviceID) {
		opts.query.Set("deviceId", *deviceID)
	}
	if *moduleID != "" && !isPattern(*moduleID) {
		opts.query.Set("moduleId", *moduleID)
	}
	if f.Given("from-sequence-number") {
		if *fromSeq < 0 {
			return usagef(name, "--from-sequence-number must not be negative")
		}
		opts.query.Set("fromSequenceNumber", strconv.FormatInt(*fromSeq, 10))
	}
	if f.Given("enqueued-time") {
		if *enqueued <= 0 {
			return usagef(name, "--enqueued-time must be a positive number of milliseconds since the Unix epoch")
		}
		opts.query.Set("fromEnqueuedTime", time.UnixMilli(*enqueued).UTC().Format(time.RFC3339Nano))
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	return c.monitor(ctx, opts, stdout, stderr)
}

// streamResult is one message, or the error that ended the stream.
type streamResult struct {
	msg d2c.Message
	err error
}

// monitor follows the event stream until ctx ends (an interrupt: not an
// error), opts.idle passes without a message, or opts.maxMessages are printed.
func (c *client) monitor(ctx context.Context, opts monitorOptions, stdout, stderr io.Writer) error {
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Only the wait for the answer's headers is bounded: the stream itself runs on.
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(defaultRequestTimeout, func() { timedOut.Store(true); cancel() })
	resp, err := c.open(streamCtx, request{method: http.MethodGet, path: "/emulator/messages/events/stream", query: opts.query,
		headers: map[string]string{"Accept": "text/event-stream"}})
	watchdog.Stop()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil
	case err != nil && timedOut.Load():
		return fmt.Errorf("the emulator did not open the event stream within %s", defaultRequestTimeout)
	case err != nil:
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(stderr, "Starting event monitor%s; press Ctrl+C to stop.\n", filterText(opts))

	results := make(chan streamResult)
	go readStream(streamCtx, resp.Body, results)

	var idle <-chan time.Time
	var timer *time.Timer
	if opts.idle > 0 {
		timer = time.NewTimer(opts.idle)
		defer timer.Stop()
		idle = timer.C
	}
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle:
			fmt.Fprintf(stderr, "No message for %s: stopping.\n", opts.idle)
			return nil
		case r := <-results:
			if r.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return r.err
			}
			if !matchID(opts.deviceID, r.msg.DeviceID) || !matchID(opts.moduleID, r.msg.ModuleID) {
				continue
			}
			line, err := formatEvent(r.msg, opts.props)
			if err != nil {
				return fmt.Errorf("message %d: %w", r.msg.SequenceNumber, err)
			}
			if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
				return err
			}
			printed++
			if opts.maxMessages > 0 && printed >= opts.maxMessages {
				return nil
			}
			if timer != nil {
				timer.Reset(opts.idle)
			}
		}
	}
}

// readStream decodes the stream's messages into out until it fails or ctx ends.
func readStream(ctx context.Context, body io.Reader, out chan<- streamResult) {
	send := func(r streamResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sse := newSSEReader(body)
	for {
		ev, err := sse.next()
		if errors.Is(err, io.EOF) {
			send(streamResult{err: errors.New("the emulator ended the event stream (was it stopped?)")})
			return
		}
		if err != nil {
			send(streamResult{err: fmt.Errorf("reading the event stream: %w", err)})
			return
		}
		if ev.Event != "" && ev.Event != "message" {
			continue
		}
		var m d2c.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			send(streamResult{err: fmt.Errorf("the event stream sent a message that cannot be read: %w", err)})
			return
		}
		if !send(streamResult{msg: m}) {
			return
		}
	}
}

func filterText(o monitorOptions) string {
	s := ""
	if o.deviceID != "" {
		s += ", filtering on device " + o.deviceID
	}
	if o.moduleID != "" {
		s += ", module " + o.moduleID
	}
	return s
}

// isPattern reports whether an id filter holds wildcards.
func isPattern(s string) bool { return strings.ContainsAny(s, "*?") }

// matchID reports whether id passes a filter as az's does: an empty filter
// passes everything; otherwise the id equals it or matches it with * as
// any run of characters and ? as any one.
func matchID(filter, id string) bool {
	return filter == "" || filter == id || (isPattern(filter) && glob(filter, id))
}

// glob matches s against a pattern of literal characters, * and ?.
func glob(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	pi, ni := 0, 0
	star, mark := -1, 0 // last * seen, and where in s it began matching
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
