package amqp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func u32(v uint32) *uint32 { return &v }

// samplePerformatives has one of every frame body with most fields set.
func samplePerformatives() []performative {
	rc := uint16(3)
	rsm := RcvSecond
	src := &Source{
		Address: "$management", Durable: 1, ExpiryPolicy: "never", Timeout: 5, Dynamic: true,
		DynamicNodeProperties: map[Symbol]any{"lifetime-policy": Described{uint64(0x2b), []any{}}},
		DistributionMode:      "copy",
		Filter: map[Symbol]any{"apache.org:selector-filter:string": Described{
			Symbol("apache.org:selector-filter:string"), "amqp.annotation.x-opt-offset > '5'"}},
		DefaultOutcome: &Released{}, Outcomes: []Symbol{"amqp:accepted:list"}, Capabilities: []Symbol{"queue"},
	}
	tgt := &Target{Address: "/messages/devicebound", Durable: 2, ExpiryPolicy: "link-detach", Timeout: 1,
		Capabilities: []Symbol{"topic"}, DynamicNodeProperties: map[Symbol]any{"x": int32(1)}}
	return []performative{
		&openFrame{ContainerID: "c", Hostname: "hub.azure-devices.net", MaxFrameSize: 65536, ChannelMax: 255,
			IdleTimeout: 60000, OutgoingLocales: []Symbol{"en-US"}, IncomingLocales: []Symbol{"en-US"},
			OfferedCapabilities: []Symbol{"ANONYMOUS-RELAY"}, DesiredCapabilities: []Symbol{"x"},
			Properties: map[Symbol]any{"product": "test"}},
		&beginFrame{RemoteChannel: &rc, NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: bigWindow,
			HandleMax: 255, OfferedCapabilities: []Symbol{"a"}, Properties: map[Symbol]any{"p": uint64(1)}},
		&attachFrame{Name: "l", Handle: 1, Role: roleReceiver, SndSettleMode: SndSettled, RcvSettleMode: RcvSecond,
			Source: src, Target: tgt, Unsettled: Map{{[]byte("tag"), nil}}, IncompleteUnsettled: true,
			InitialDeliveryCount: u32(7), MaxMessageSize: 1 << 20, OfferedCapabilities: []Symbol{"o"},
			DesiredCapabilities: []Symbol{"d"},
			Properties:          map[Symbol]any{"com.microsoft:epoch": int64(3), "com.microsoft:timeout": uint32(60000)}},
		&flowFrame{NextIncomingID: u32(1), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4,
			Handle: u32(5), DeliveryCount: u32(6), LinkCredit: u32(7), Available: u32(8), Drain: true, Echo: true,
			Properties: map[Symbol]any{"k": true}},
		&transferFrame{Handle: 1, DeliveryID: u32(2), DeliveryTag: []byte{1}, MessageFormat: u32(0), Settled: true,
			More: true, RcvSettleMode: &rsm, State: &Received{SectionNumber: 1, SectionOffset: 2},
			Resume: true, Aborted: true, Batchable: true},
		&dispositionFrame{Role: roleReceiver, First: 1, Last: u32(9), Settled: true,
			State:     &Rejected{Error: &Error{Condition: CondDecodeError, Description: "bad", Info: map[Symbol]any{"k": "v"}}},
			Batchable: true},
		&dispositionFrame{Role: roleSender, First: 1, State: &Modified{DeliveryFailed: true, UndeliverableHere: true,
			MessageAnnotations: map[Symbol]any{"x-opt-a": int32(1)}}},
		&dispositionFrame{Role: roleReceiver, First: 4, State: &Accepted{}},
		&detachFrame{Handle: 1, Closed: true, Error: &Error{Condition: CondLinkRedirect, Info: map[Symbol]any{
			"hostname": "h", "network-host": "n", "port": int32(5671), "address": "a"}}},
		&endFrame{Error: &Error{Condition: CondUnattachedHandle}},
		&endFrame{},
		&closeFrame{Error: &Error{Condition: CondFramingError, Description: "x"}},
		&saslMechanismsFrame{Mechanisms: []Symbol{"ANONYMOUS", "PLAIN"}},
		&saslInitFrame{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p"), Hostname: "h"},
		&saslChallengeFrame{Challenge: []byte{1}},
		&saslResponseFrame{Response: []byte{2}},
		&saslOutcomeFrame{Code: saslAuth, AdditionalData: []byte{3}},
	}
}

func TestPerformativesRoundTrip(t *testing.T) {
	for _, p := range samplePerformatives() {
		t.Run(fmt.Sprintf("%T", p), func(t *testing.T) {
			b, err := p.appendAMQP(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := decodePerformative(b)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) {
				t.Fatalf("took %d of %d bytes", n, len(b))
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("got  %#v\nwant %#v", got, p)
			}
		})
	}
}

// TestPerformativeFieldCounts: the lists some clients read by position are
// always complete.
func TestPerformativeFieldCounts(t *testing.T) {
	want := map[uint64]int{descOpen: 10, descBegin: 8, descAttach: 14, descFlow: 11, descTransfer: 11,
		descDisposition: 6, descDetach: 3, descEnd: 1, descClose: 1}
	for _, p := range []performative{&openFrame{}, &beginFrame{}, &attachFrame{}, &flowFrame{},
		&transferFrame{}, &dispositionFrame{}, &detachFrame{}, &endFrame{}, &closeFrame{}} {
		b, _ := p.appendAMQP(nil)
		v, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		code, fields, _ := composite(v)
		if len(fields) != want[code] {
			t.Errorf("%T encodes %d fields, want %d", p, len(fields), want[code])
		}
	}
}

// TestGoldenFrames checks whole frames byte for byte. The open and begin
// bytes are written out by hand from §2.3 and §2.7 so they check the
// layout itself; the rest are kept in testdata/ to catch changes.
func TestGoldenFrames(t *testing.T) {
	open, _ := appendFrame(nil, frameAMQP, 0, &openFrame{ContainerID: "c", MaxFrameSize: 65536,
		ChannelMax: 255, IdleTimeout: 60000}, nil)
	want := unhex(t, "00000024 02 00 0000"+ // size 36, doff 2, AMQP, channel 0
		"00 53 10"+ // described, smallulong 0x10 (open)
		"c0 17 0a"+ // list8, 23 bytes, 10 fields
		"a1 01 63"+ // container-id "c"
		"40"+ // hostname null
		"70 00010000"+ // max-frame-size uint 65536
		"60 00ff"+ // channel-max ushort 255
		"70 0000ea60"+ // idle-time-out 60000 ms
		"40 40 40 40 40") // locales, capabilities, properties
	if !bytes.Equal(open, want) {
		t.Errorf("open frame\n got % x\nwant % x", open, want)
	}
	rc := uint16(0)
	begin, _ := appendFrame(nil, frameAMQP, 1, &beginFrame{RemoteChannel: &rc, IncomingWindow: 5000,
		OutgoingWindow: bigWindow, HandleMax: 255}, nil)
	want = unhex(t, "00000021 02 00 0001"+
		"00 53 11 c0 14 08"+
		"60 0000"+ // remote-channel ushort 0
		"43"+ // next-outgoing-id uint0
		"70 00001388"+ // incoming-window 5000
		"70 7fffffff"+ // outgoing-window
		"52 ff"+ // handle-max smalluint 255
		"40 40 40")
	if !bytes.Equal(begin, want) {
		t.Errorf("begin frame\n got % x\nwant % x", begin, want)
	}
	heartbeat, _ := appendFrame(nil, frameAMQP, 0, nil, nil)
	if !bytes.Equal(heartbeat, unhex(t, "00000008 02 00 0000")) {
		t.Errorf("empty frame % x", heartbeat)
	}

	var out strings.Builder
	for _, p := range samplePerformatives() {
		b, err := appendFrame(nil, frameAMQP, 7, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%T\n%s\n", p, hex.EncodeToString(b))
	}
	testkit.Golden(t, "performatives.golden", []byte(out.String()))
}

func TestMessageRoundTrip(t *testing.T) {
	now := time.UnixMilli(1700000000000).UTC()
	msgs := []*Message{
		{Data: [][]byte{[]byte("a")}},
		{
			Header:              &Header{Durable: true, Priority: 9, TTL: time.Minute, FirstAcquirer: true, DeliveryCount: 2},
			DeliveryAnnotations: map[Symbol]any{"x-opt-lock-token": UUID{1}},
			Annotations:         map[Symbol]any{"x-opt-enqueued-time": now, "iothub-connection-device-id": "d1"},
			Properties: &Properties{MessageID: uint64(42), UserID: []byte("u"), To: "/devices/d1/messages/devicebound",
				Subject: "s", ReplyTo: "cbs-reply", CorrelationID: UUID{9}, ContentType: "application/json",
				ContentEncoding: "utf-8", AbsoluteExpiryTime: now, CreationTime: now, GroupID: "g",
				GroupSequence: 3, ReplyToGroupID: "rg"},
			ApplicationProperties: map[string]any{"status-code": int32(200), "status-description": "OK",
				"bin": []byte{1}, "sym": Symbol("s"), "n": nil},
			Data:   [][]byte{[]byte("one"), {}, []byte(strings.Repeat("x", 70000))},
			Footer: map[Symbol]any{"f": uint64(1)},
		},
		{Properties: &Properties{MessageID: []byte{1, 2}, CorrelationID: "corr"}, Value: Map{{"k", int32(1)}}},
		{Properties: &Properties{MessageID: "id-string"}, Sequence: [][]any{{int32(1)}, {"two"}}},
		{Value: "just a value", Header: &Header{Priority: 4}},
	}
	for i, m := range msgs {
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		got, err := UnmarshalMessage(b)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%d: round trip differs", i)
		}
	}
}

func TestMessageIDTypesSurvive(t *testing.T) {
	for _, id := range []any{uint64(7), UUID{1, 2}, []byte{3}, "s"} {
		b, err := (&Message{Properties: &Properties{MessageID: id, CorrelationID: id}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m, err := UnmarshalMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Properties.MessageID, id) || !reflect.DeepEqual(m.Properties.CorrelationID, id) {
			t.Fatalf("%T became %T", id, m.Properties.MessageID)
		}
	}
	if _, err := (&Message{Properties: &Properties{MessageID: int32(1)}}).Marshal(); err == nil {
		t.Fatal("int message-id accepted")
	}
}

func TestMessageMalformed(t *testing.T) {
	bad := [][]byte{
		unhex(t, "41"),                        // not a section
		unhex(t, "00 53 75 41"),               // data not binary
		unhex(t, "00 53 77 41 00 53 75 a000"), // data after value
		unhex(t, "00 53 73 45 00 53 70 45"),   // header after properties
		unhex(t, "00 53 79 45"),               // unknown section
		unhex(t, "00 53 74 c1 03 02 54 01"),   // app-properties key not string
		unhex(t, "00 53 73 c0 02 01 54"),      // truncated
	}
	for i, b := range bad {
		if _, err := UnmarshalMessage(b); err == nil {
			t.Errorf("%d decoded", i)
		}
	}
}

func TestFrameDecoding(t *testing.T) {
	open, _ := appendFrame(nil, frameAMQP, 0, &openFrame{ContainerID: "c"}, nil)
	tr, _ := appendFrame(nil, frameAMQP, 2, &transferFrame{Handle: 1}, []byte("payload"))
	ext := unhex(t, "00000010 04 00 0005 deadbeef 00000000") // extended header, empty body
	tests := []struct {
		name    string
		in      []byte
		max     uint32
		wantErr error
	}{
		{"open", open, 512, nil},
		{"transfer", tr, 512, nil},
		{"extended header heartbeat", ext[:16], 512, nil},
		{"oversized", open, 16, errFraming},
		{"size below header", unhex(t, "00000004 02 00 0000"), 512, errFraming},
		{"doff 1", unhex(t, "00000008 01 00 0000"), 512, errFraming},
		{"doff past size", unhex(t, "00000008 05 00 0000"), 512, errFraming},
		{"bad type", unhex(t, "0000000a 02 07 0000 4040"), 512, errFraming},
		{"garbage body", unhex(t, "0000000a 02 00 0000 ffff"), 512, errDecode},
		{"payload after non-transfer", append(open[:len(open):len(open)], 0x40), 512, errDecode},
	}
	tests[len(tests)-1].in[3]++
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readFrame(bytes.NewReader(tt.in), tt.max)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errorsIs(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v (frame %+v)", err, tt.wantErr, f)
			}
		})
	}
	f, _ := readFrame(bytes.NewReader(tr), 512)
	if string(f.payload) != "payload" || f.channel != 2 {
		t.Fatalf("transfer frame %+v", f)
	}
}
