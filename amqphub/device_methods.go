package amqphub

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/guid"
)

// Direct methods travel on a link pair on /devices/{id}/methods/devicebound:
// requests go out on the device's receiver with application property
// IoThub-methodname, correlation-id the request id and the payload as body;
// the device answers on its sender with that correlation-id and
// application property IoThub-status.
const (
	propMethodName   = "IoThub-methodname"
	propMethodStatus = "IoThub-status"
)

// methodResult is a device's answer to a call.
type methodResult struct {
	status int
	body   []byte
}

// methodCalls are the calls waiting for their answer, by identity and
// request id, so one device cannot answer another's call.
type methodCalls struct {
	mu      sync.Mutex
	pending map[string]chan methodResult
}

func callKey(id identity, requestID string) string {
	return id.key() + "\x00" + strings.ToLower(requestID)
}

func (p *methodCalls) add(key string) chan methodResult {
	ch := make(chan methodResult, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[string]chan methodResult{}
	}
	p.pending[key] = ch
	return ch
}

func (p *methodCalls) remove(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, key)
}

func (p *methodCalls) resolve(key string, r methodResult) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.pending[key]
	if ok {
		delete(p.pending, key)
		ch <- r
	}
	return ok
}

// methodResponses takes a device's answers on its methods sender link.
type methodResponses struct {
	s  *Server
	id identity
}

func (r methodResponses) Receive(_ context.Context, msg *amqp.Message) amqp.DeliveryState {
	var requestID string
	if msg.Properties != nil {
		requestID = idString(msg.Properties.CorrelationID)
	}
	status, ok := statusOf(msg.ApplicationProperties[propMethodStatus])
	if requestID == "" || !ok {
		return rejected(errcode.New(errcode.ArgumentInvalid, "A method response needs a correlation-id and an integer %s application property.", propMethodStatus))
	}
	if !r.s.calls.resolve(callKey(r.id, requestID), methodResult{status: status, body: messageBody(msg)}) {
		// Late (the call timed out) or unknown: IoT Hub drops it too.
		r.s.log.Debug("method response for no pending call", "device", r.id.deviceID, "module", r.id.moduleID, "requestId", requestID)
	}
	return &amqp.Accepted{}
}

// statusOf reads an integer status of any AMQP integer type (or its text).
func statusOf(v any) (int, bool) {
	switch x := v.(type) {
	case int32:
		return int(x), true
	case int64:
		return int(x), true
	case int16:
		return int(x), true
	case int8:
		return int(x), true
	case uint32:
		return int(x), true
	case uint64:
		return int(x), true
	case uint16:
		return int(x), true
	case uint8:
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// InvokeMethod calls a direct method on the identity's newest methods link,
// waiting up to connectTimeout for one to attach, then up to
// responseTimeout for the answer. The errors are the MQTT broker's:
// DeviceNotOnline when no link is there, GatewayTimeout when no answer
// comes.
func (s *Server) InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connectTimeout, responseTimeout time.Duration) (int, []byte, error) {
	id := identity{deviceID, moduleID}
	switch {
	case deviceID == "":
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "the device id is empty")
	case name == "":
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "the method name is empty")
	case responseTimeout <= 0:
		return 0, nil, errcode.New(errcode.ArgumentInvalid, "response timeout %v is not positive", responseTimeout)
	}
	snd, err := s.awaitMethodLink(ctx, id, connectTimeout)
	if err != nil {
		return 0, nil, err
	}
	corr := newUUID()
	key := callKey(id, corr.String())
	answer := s.calls.add(key)
	defer s.calls.remove(key)

	wait, cancel := context.WithTimeout(ctx, responseTimeout)
	defer cancel()
	req := &amqp.Message{
		Properties:            &amqp.Properties{MessageID: corr, CorrelationID: corr},
		ApplicationProperties: map[string]any{propMethodName: name},
		Data:                  [][]byte{payload},
	}
	if err := snd.Post(wait, req); err != nil && wait.Err() == nil {
		return 0, nil, errcode.New(errcode.DeviceNotOnline, "device %s disconnected before method %q was delivered", id.key(), name)
	}
	select {
	case r := <-answer:
		return r.status, r.body, nil
	case <-wait.Done():
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, errcode.New(errcode.GatewayTimeout, "timed out waiting for the response from device %s to method %q", id.key(), name)
	case <-snd.Done():
		return 0, nil, errcode.New(errcode.DeviceNotOnline, "device %s disconnected before answering method %q", id.key(), name)
	}
}

// awaitMethodLink returns the identity's newest live methods link, waiting
// up to timeout for one.
func (s *Server) awaitMethodLink(ctx context.Context, id identity, timeout time.Duration) (*amqp.Sender, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		attached := s.devs.attachedSignal()
		var snd *amqp.Sender
		s.devs.lookup(id, func(il *identityLinks) {
			for i := len(il.methods) - 1; i >= 0 && snd == nil; i-- {
				select {
				case <-il.methods[i].Done():
				default:
					snd = il.methods[i]
				}
			}
		})
		if snd != nil {
			return snd, nil
		}
		if timeout <= 0 {
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s is not online or has no direct-method link", id.key())
		}
		select {
		case <-attached:
		case <-deadline.C:
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s did not come online with a direct-method link within %v", id.key(), timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.ctx.Done():
			return nil, errcode.New(errcode.DeviceNotOnline, "device %s is not online: the AMQP server is closed", id.key())
		}
	}
}

// newUUID is a random (version 4) UUID: the SDKs turn a request id that
// looks like one back into a uuid when they answer.
func newUUID() amqp.UUID { return amqp.UUID(guid.Bytes()) }
