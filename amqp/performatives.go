package amqp

// The frame bodies of §2.7 and §5.3. They are internal: callers see links
// and messages. Every field is always encoded, trailing nulls included,
// because some clients read these lists by position without padding.

// Settle modes of §2.8.2 and §2.8.3.
type SenderSettleMode uint8
type ReceiverSettleMode uint8

const (
	SndUnsettled SenderSettleMode = 0
	SndSettled   SenderSettleMode = 1
	SndMixed     SenderSettleMode = 2

	RcvFirst  ReceiverSettleMode = 0
	RcvSecond ReceiverSettleMode = 1
)

// Roles as encoded in attach and disposition.
const (
	roleSender   = false
	roleReceiver = true
)

type performative interface {
	marshaler
}

type openFrame struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32
	ChannelMax          uint16
	IdleTimeout         uint32 // milliseconds, 0 = none
	OutgoingLocales     []Symbol
	IncomingLocales     []Symbol
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          map[Symbol]any
}

type beginFrame struct {
	RemoteChannel       *uint16
	NextOutgoingID      uint32
	IncomingWindow      uint32
	OutgoingWindow      uint32
	HandleMax           uint32
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          map[Symbol]any
}

type attachFrame struct {
	Name                 string
	Handle               uint32
	Role                 bool
	SndSettleMode        SenderSettleMode
	RcvSettleMode        ReceiverSettleMode
	Source               *Source
	Target               *Target
	Unsettled            Map
	IncompleteUnsettled  bool
	InitialDeliveryCount *uint32
	MaxMessageSize       uint64 // 0 = no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           map[Symbol]any
}

type flowFrame struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     map[Symbol]any
}

type transferFrame struct {
	Handle        uint32
	DeliveryID    *uint32
	DeliveryTag   []byte
	MessageFormat *uint32
	Settled       bool
	More          bool
	RcvSettleMode *ReceiverSettleMode
	State         DeliveryState
	Resume        bool
	Aborted       bool
	Batchable     bool
	Payload       []byte // follows the performative in the frame body
}

type dispositionFrame struct {
	Role      bool
	First     uint32
	Last      *uint32
	Settled   bool
	State     DeliveryState
	Batchable bool
}

type detachFrame struct {
	Handle uint32
	Closed bool
	Error  *Error
}

type endFrame struct{ Error *Error }

type closeFrame struct{ Error *Error }

type saslMechanismsFrame struct{ Mechanisms []Symbol }

type saslInitFrame struct {
	Mechanism       Symbol
	InitialResponse []byte
	Hostname        string
}

type saslChallengeFrame struct{ Challenge []byte }

type saslResponseFrame struct{ Response []byte }

// SASL outcome codes (§5.3.3.6).
const (
	saslOK      uint8 = 0
	saslAuth    uint8 = 1
	saslSys     uint8 = 2
	saslSysPerm uint8 = 3
	saslSysTemp uint8 = 4
)

type saslOutcomeFrame struct {
	Code           uint8
	AdditionalData []byte
}

func optSource(s *Source) any {
	if s == nil {
		return nil
	}
	return s
}

func optTarget(t *Target) any {
	if t == nil {
		return nil
	}
	return t
}

func (p *openFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descOpen, p.ContainerID, optString(p.Hostname), p.MaxFrameSize,
		p.ChannelMax, p.IdleTimeout, optSymbols(p.OutgoingLocales), optSymbols(p.IncomingLocales),
		optSymbols(p.OfferedCapabilities), optSymbols(p.DesiredCapabilities), optFields(p.Properties))
}

func (p *beginFrame) appendAMQP(b []byte) ([]byte, error) {
	var rc any
	if p.RemoteChannel != nil {
		rc = *p.RemoteChannel
	}
	return appendComposite(b, descBegin, rc, p.NextOutgoingID, p.IncomingWindow, p.OutgoingWindow,
		p.HandleMax, optSymbols(p.OfferedCapabilities), optSymbols(p.DesiredCapabilities), optFields(p.Properties))
}

func (p *attachFrame) appendAMQP(b []byte) ([]byte, error) {
	var unsettled any
	if p.Unsettled != nil {
		unsettled = p.Unsettled
	}
	var mms any
	if p.MaxMessageSize != 0 {
		mms = p.MaxMessageSize
	}
	return appendComposite(b, descAttach, p.Name, p.Handle, p.Role, uint8(p.SndSettleMode),
		uint8(p.RcvSettleMode), optSource(p.Source), optTarget(p.Target), unsettled, p.IncompleteUnsettled,
		optUint32(p.InitialDeliveryCount), mms, optSymbols(p.OfferedCapabilities),
		optSymbols(p.DesiredCapabilities), optFields(p.Properties))
}

func (p *flowFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descFlow, optUint32(p.NextIncomingID), p.IncomingWindow, p.NextOutgoingID,
		p.OutgoingWindow, optUint32(p.Handle), optUint32(p.DeliveryCount), optUint32(p.LinkCredit),
		optUint32(p.Available), p.Drain, p.Echo, optFields(p.Properties))
}

func (p *transferFrame) appendAMQP(b []byte) ([]byte, error) {
	var rsm any
	if p.RcvSettleMode != nil {
		rsm = uint8(*p.RcvSettleMode)
	}
	return appendComposite(b, descTransfer, p.Handle, optUint32(p.DeliveryID), optBinary(p.DeliveryTag),
		optUint32(p.MessageFormat), p.Settled, p.More, rsm, optState(p.State), p.Resume, p.Aborted, p.Batchable)
}

func (p *dispositionFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descDisposition, p.Role, p.First, optUint32(p.Last), p.Settled,
		optState(p.State), p.Batchable)
}

func (p *detachFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descDetach, p.Handle, p.Closed, optError(p.Error))
}

func (p *endFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descEnd, optError(p.Error))
}

func (p *closeFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descClose, optError(p.Error))
}

func (p *saslMechanismsFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSASLMechs, p.Mechanisms)
}

func (p *saslInitFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSASLInit, p.Mechanism, optBinary(p.InitialResponse), optString(p.Hostname))
}

func (p *saslChallengeFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSASLChallenge, p.Challenge)
}

func (p *saslResponseFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSASLResponse, p.Response)
}

func (p *saslOutcomeFrame) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSASLOutcome, p.Code, optBinary(p.AdditionalData))
}

// decodePerformative decodes the performative at the start of body and
// returns it with the number of bytes it took (a transfer's payload follows).
func decodePerformative(body []byte) (performative, int, error) {
	v, n, err := DecodeValue(body)
	if err != nil {
		return nil, 0, err
	}
	code, f, err := composite(v)
	if err != nil {
		return nil, 0, err
	}
	p, err := performativeFromFields(code, f)
	if err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

func performativeFromFields(code uint64, f []any) (performative, error) {
	switch code {
	case descOpen:
		r := fieldReader{what: "open", f: f}
		r.mandatory(0)
		p := &openFrame{
			ContainerID: r.string(0), Hostname: r.string(1), MaxFrameSize: r.uint32(2, 1<<32-1),
			ChannelMax: uint16(r.uint32(3, 65535)), IdleTimeout: r.uint32(4, 0),
			OutgoingLocales: r.symbols(5), IncomingLocales: r.symbols(6),
			OfferedCapabilities: r.symbols(7), DesiredCapabilities: r.symbols(8), Properties: r.fields(9),
		}
		if v, ok := r.get(3).(uint32); ok && v > 65535 {
			r.fail(3, v, "ushort")
		}
		return p, r.err
	case descBegin:
		r := fieldReader{what: "begin", f: f}
		r.mandatory(1)
		r.mandatory(2)
		r.mandatory(3)
		p := &beginFrame{
			NextOutgoingID: r.uint32(1, 0), IncomingWindow: r.uint32(2, 0), OutgoingWindow: r.uint32(3, 0),
			HandleMax: r.uint32(4, 1<<32-1), OfferedCapabilities: r.symbols(5), DesiredCapabilities: r.symbols(6),
			Properties: r.fields(7),
		}
		if rc := r.optUint32(0); rc != nil {
			if *rc > 65535 {
				r.fail(0, *rc, "ushort")
			}
			c := uint16(*rc)
			p.RemoteChannel = &c
		}
		return p, r.err
	case descAttach:
		r := fieldReader{what: "attach", f: f}
		r.mandatory(0)
		r.mandatory(1)
		r.mandatory(2)
		p := &attachFrame{
			Name: r.string(0), Handle: r.uint32(1, 0), Role: r.bool(2, false),
			SndSettleMode:       SenderSettleMode(r.uint32(3, uint32(SndMixed))),
			RcvSettleMode:       ReceiverSettleMode(r.uint32(4, uint32(RcvFirst))),
			IncompleteUnsettled: r.bool(8, false), InitialDeliveryCount: r.optUint32(9),
			MaxMessageSize: r.uint64(10, 0), OfferedCapabilities: r.symbols(11),
			DesiredCapabilities: r.symbols(12), Properties: r.fields(13),
		}
		if p.SndSettleMode > SndMixed || p.RcvSettleMode > RcvSecond {
			r.fail(3, r.get(3), "settle mode")
		}
		var err error
		if p.Source, err = decodeSource(r.get(5)); err != nil && r.err == nil {
			r.err = err
		}
		if p.Target, err = decodeTarget(r.get(6)); err != nil && r.err == nil {
			r.err = err
		}
		if u := r.get(7); u != nil {
			m, ok := u.(Map)
			if !ok {
				r.fail(7, u, "map")
			}
			p.Unsettled = m
		}
		return p, r.err
	case descFlow:
		r := fieldReader{what: "flow", f: f}
		r.mandatory(1)
		r.mandatory(2)
		r.mandatory(3)
		p := &flowFrame{
			NextIncomingID: r.optUint32(0), IncomingWindow: r.uint32(1, 0), NextOutgoingID: r.uint32(2, 0),
			OutgoingWindow: r.uint32(3, 0), Handle: r.optUint32(4), DeliveryCount: r.optUint32(5),
			LinkCredit: r.optUint32(6), Available: r.optUint32(7), Drain: r.bool(8, false),
			Echo: r.bool(9, false), Properties: r.fields(10),
		}
		return p, r.err
	case descTransfer:
		r := fieldReader{what: "transfer", f: f}
		r.mandatory(0)
		p := &transferFrame{
			Handle: r.uint32(0, 0), DeliveryID: r.optUint32(1), DeliveryTag: r.binary(2),
			MessageFormat: r.optUint32(3), Settled: r.bool(4, false), More: r.bool(5, false),
			State: r.state(7), Resume: r.bool(8, false), Aborted: r.bool(9, false), Batchable: r.bool(10, false),
		}
		if m := r.optUint32(6); m != nil {
			if *m > uint32(RcvSecond) {
				r.fail(6, *m, "receiver settle mode")
			}
			rsm := ReceiverSettleMode(*m)
			p.RcvSettleMode = &rsm
		}
		return p, r.err
	case descDisposition:
		r := fieldReader{what: "disposition", f: f}
		r.mandatory(0)
		r.mandatory(1)
		p := &dispositionFrame{
			Role: r.bool(0, false), First: r.uint32(1, 0), Last: r.optUint32(2), Settled: r.bool(3, false),
			State: r.state(4), Batchable: r.bool(5, false),
		}
		return p, r.err
	case descDetach:
		r := fieldReader{what: "detach", f: f}
		r.mandatory(0)
		p := &detachFrame{Handle: r.uint32(0, 0), Closed: r.bool(1, false), Error: r.error(2)}
		return p, r.err
	case descEnd:
		r := fieldReader{what: "end", f: f}
		return &endFrame{Error: r.error(0)}, r.err
	case descClose:
		r := fieldReader{what: "close", f: f}
		return &closeFrame{Error: r.error(0)}, r.err
	case descSASLMechs:
		r := fieldReader{what: "sasl-mechanisms", f: f}
		r.mandatory(0)
		return &saslMechanismsFrame{Mechanisms: r.symbols(0)}, r.err
	case descSASLInit:
		r := fieldReader{what: "sasl-init", f: f}
		r.mandatory(0)
		return &saslInitFrame{Mechanism: r.symbol(0), InitialResponse: r.binary(1), Hostname: r.string(2)}, r.err
	case descSASLChallenge:
		r := fieldReader{what: "sasl-challenge", f: f}
		r.mandatory(0)
		return &saslChallengeFrame{Challenge: r.binary(0)}, r.err
	case descSASLResponse:
		r := fieldReader{what: "sasl-response", f: f}
		r.mandatory(0)
		return &saslResponseFrame{Response: r.binary(0)}, r.err
	case descSASLOutcome:
		r := fieldReader{what: "sasl-outcome", f: f}
		r.mandatory(0)
		c := r.uint32(0, 0)
		if c > 255 {
			r.fail(0, c, "ubyte")
		}
		return &saslOutcomeFrame{Code: uint8(c), AdditionalData: r.binary(1)}, r.err
	}
	return nil, decodeErrorf("descriptor 0x%x is not a performative", code)
}
