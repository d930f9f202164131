package amqphub

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// register creates a device (and the module, if moduleID is set) and
// returns the identity's primary key.
func (f *fixture) register(deviceID, moduleID string) string {
	f.t.Helper()
	ctx := context.Background()
	dev, err := f.hub.GetDevice(ctx, deviceID)
	if err != nil {
		if dev, err = f.hub.PutDevice(ctx, deviceID, []byte(`{}`), ""); err != nil {
			f.t.Fatal(err)
		}
	}
	if moduleID == "" {
		return dev.Authentication.SymmetricKey.PrimaryKey
	}
	mod, err := f.hub.PutModule(ctx, deviceID, moduleID, []byte(`{}`), "")
	if err != nil {
		f.t.Fatal(err)
	}
	return mod.Authentication.SymmetricKey.PrimaryKey
}

// resource is an identity's token resource, as the SDKs write it.
func resource(deviceID, moduleID string) string {
	r := "127.0.0.1/devices/" + url.PathEscape(deviceID)
	if moduleID != "" {
		r += "/modules/" + url.PathEscape(moduleID)
	}
	return r
}

// deviceToken signs a token for the identity with key, valid for ttl
// (negative: already expired).
func (f *fixture) deviceToken(deviceID, moduleID, key string, ttl time.Duration) string {
	f.t.Helper()
	tok, err := sas.NewToken(resource(deviceID, moduleID), key, "", time.Now().Add(ttl))
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// deviceSession connects as the SDKs' AMQP device clients do (no
// credentials in SASL) and puts token on $cbs, failing the test unless the
// hub accepts it.
func (f *fixture) deviceSession(token string) *goamqp.Session {
	f.t.Helper()
	s := f.session(f.dial(&goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}))
	tok, err := sas.ParseToken(token)
	if err != nil {
		f.t.Fatal(err)
	}
	if code := f.putToken(s, tok.Resource, token); code != 200 {
		f.t.Fatalf("put-token status %d, want 200", code)
	}
	return s
}

// twinCall sends one twin request on snd and reads its reply on rcv.
func twinCall(ctx context.Context, snd *goamqp.Sender, rcv *goamqp.Receiver, op, resource string, body []byte) (*goamqp.Message, error) {
	ann := goamqp.Annotations{"operation": op}
	if resource != "" {
		ann["resource"] = resource
	}
	corr := "req-" + op + "-" + time.Now().Format("150405.000000000")
	msg := &goamqp.Message{Annotations: ann, Properties: &goamqp.MessageProperties{CorrelationID: corr}}
	if body != nil {
		msg.Data = [][]byte{body}
	}
	if err := snd.Send(ctx, msg, nil); err != nil {
		return nil, err
	}
	for {
		reply, err := rcv.Receive(ctx, nil)
		if err != nil {
			return nil, err
		}
		_ = rcv.AcceptMessage(ctx, reply)
		if reply.Properties != nil && reply.Properties.CorrelationID == corr {
			return reply, nil
		}
	}
}

// twinLinks attaches a twin link pair as the Node SDK does.
func (f *fixture) twinLinks(s *goamqp.Session, path string) (*goamqp.Sender, *goamqp.Receiver) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	props := map[string]any{"com.microsoft:channel-correlation-id": "twin:1", "com.microsoft:api-version": "2021-04-12"}
	snd, err := s.NewSender(ctx, path, &goamqp.SenderOptions{Properties: props, SettlementMode: goamqp.SenderSettleModeSettled.Ptr()})
	if err != nil {
		f.t.Fatal(err)
	}
	rcv, err := s.NewReceiver(ctx, path, &goamqp.ReceiverOptions{Properties: props})
	if err != nil {
		f.t.Fatal(err)
	}
	return snd, rcv
}

func jsonOf(b []byte) map[string]any {
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return v
}
