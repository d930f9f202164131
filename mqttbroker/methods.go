package mqttbroker

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// methodResult is a device's answer to one method request.
type methodResult struct {
	status int
	body   []byte
}

// pendingCalls are the method requests sent on one connection and not yet
// answered, by rid. A response is matched only against the connection it
// arrives on, so one device can never answer another's request.
type pendingCalls struct {
	mu sync.Mutex
	m  map[string]chan methodResult // each buffered for exactly one result
}

func (p *pendingCalls) add(rid string) chan methodResult {
	ch := make(chan methodResult, 1)
	p.mu.Lock()
	p.m[rid] = ch
	p.mu.Unlock()
	return ch
}

// resolve hands a response to its waiting call; false if no call waits for
// rid (answered already, timed out, or never sent).
func (p *pendingCalls) resolve(rid string, r methodResult) bool {
	p.mu.Lock()
	ch, ok := p.m[rid]
	delete(p.m, rid)
	p.mu.Unlock()
	if ok {
		ch <- r // never blocks: the one slot is this result's
	}
	return ok
}

// remove gives up on rid. False means a response was resolved first and is
// (or is about to be) in the call's channel.
func (p *pendingCalls) remove(rid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[rid]
	delete(p.m, rid)
	return ok
}

// InvokeMethod sends a direct method request to the identity's live
// connection and waits for the answer.
//
// It waits up to connectTimeout for the identity to be connected and
// subscribed to $iothub/methods/POST/# (0: it must be so already); otherwise
// the error is *errcode.Error DeviceNotOnline. It then publishes
// $iothub/methods/POST/{name}/?$rid={rid} at QoS 0 with payload (JSON bytes as
// given, e.g. `null`) and waits up to responseTimeout for
// $iothub/methods/res/{status}/?$rid={rid}; no answer in time is
// *errcode.Error GatewayTimeout. It returns the device's status and response
// body (possibly empty).
//
// The request belongs to the connection it was sent on: if that connection
// ends before the answer (dropped, taken over by a reconnect, broker closed)
// the call fails at once with DeviceNotOnline, since the device cannot answer
// it on another connection. Cancelling ctx ends the wait with ctx.Err().
// Concurrent calls are matched by rid, which is unique within the broker.
func (b *Broker) InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connectTimeout, responseTimeout time.Duration) (status int, body []byte, err error) {
	switch {
	case deviceID == "" || strings.Contains(deviceID, "/") || strings.Contains(moduleID, "/"):
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "invalid device or module id %q", identityKey(deviceID, moduleID))
	case name == "":
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "the method name is empty")
	case connectTimeout < 0:
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "negative connect timeout %v", connectTimeout)
	case responseTimeout <= 0:
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "response timeout %v is not positive", responseTimeout)
	}
	key := identityKey(deviceID, moduleID)
	s, err := b.awaitMethodSubscriber(ctx, key, connectTimeout)
	if err != nil {
		return 0, nil, err
	}

	rid := strconv.FormatUint(b.nextRID.Add(1), 10)
	result := s.calls.add(rid)
	wait, cancel := context.WithTimeout(ctx, responseTimeout)
	defer cancel()
	log := s.log.With("method", name, "rid", rid)

	sent := s.pushWait(wait, outbound{topic: methodRequestTopic(name, rid), payload: bytes.Clone(payload)})
	if sent {
		log.Debug("method request", "bytes", len(payload))
		select {
		case r := <-result:
			log.Debug("method response", "status", r.status)
			return r.status, r.body, nil
		case <-wait.Done():
		case <-s.done:
		}
	}
	if !s.calls.remove(rid) { // answered while giving up: the answer wins
		r := <-result
		return r.status, r.body, nil
	}
	switch {
	case ctx.Err() != nil:
		return 0, nil, ctx.Err()
	case wait.Err() != nil:
		log.Debug("method call timed out", "after", responseTimeout)
		return 0, nil, errcode.New(errcode.GatewayTimeout, "timed out waiting for the response from device %s to method %q", key, name)
	}
	return 0, nil, errcode.New(errcode.DeviceNotOnline, "device %s disconnected before answering method %q", key, name)
}

// awaitMethodSubscriber returns the identity's live session once it is
// subscribed to the methods filter, waiting up to timeout.
func (b *Broker) awaitMethodSubscriber(ctx context.Context, key string, timeout time.Duration) (*session, error) {
	var expired <-chan time.Time
	var sl *slot
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
		sl = b.acquireSlot(key) // held while waiting, so the wake-up channel is the identity's
		defer b.releaseSlot(sl)
	}
	for {
		var changed <-chan struct{}
		if sl != nil {
			// Taken before looking, so a change between the look and the
			// wait is not missed.
			changed = sl.changed()
		}
		if s := b.current(key); s != nil && s.subscribed(filterMethods) {
			return s, nil
		}
		if timeout == 0 {
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s is not online or not subscribed to direct methods", key)
		}
		if b.methodWaiting != nil {
			b.methodWaiting(key)
		}
		select {
		case <-changed:
		case <-expired:
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s did not come online and subscribe to direct methods within %v", key, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.ctx.Done():
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s is not online: the broker is closed", key)
		}
	}
}

// methodResponse matches a device's method response to the call waiting on
// this connection; an unknown rid (late, repeated or forged) is dropped.
func (b *Broker) methodResponse(s *session, t deviceTopic, body []byte) {
	if !s.calls.resolve(t.RID, methodResult{status: t.Status, body: bytes.Clone(body)}) {
		s.log.Debug("method response dropped: no request waits for it", "rid", t.RID, "status", t.Status)
	}
}

// methodRequestTopic is $iothub/methods/POST/{name}/?$rid={rid}.
func methodRequestTopic(name, rid string) string {
	return "$iothub/methods/POST/" + escapeTopicSegment(name) + "/?$rid=" + rid
}

// escapeTopicSegment percent-encodes what cannot stand in one topic segment
// as SDKs read it: '/', '?' and '#' and '+' (separators and wildcards), '%'
// itself, control bytes and invalid UTF-8. Everything else stays as it is,
// because SDKs that do not unquote the segment (Node) then see the name
// unchanged; those that do (Python) get it back exactly.
func escapeTopicSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r < 0x20 || r == 0x7f || strings.ContainsRune("/?#+%", r) {
			c := s[i]
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
