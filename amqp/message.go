package amqp

import (
	"fmt"
	"time"
)

// Message is an AMQP message (§3.2): its sections in wire order. Nil or
// zero fields are absent sections.
type Message struct {
	Header                *Header
	DeliveryAnnotations   map[Symbol]any
	Annotations           map[Symbol]any // message-annotations
	Properties            *Properties
	ApplicationProperties map[string]any
	// The body is one of: Data (one or more data sections), Sequence (one
	// or more amqp-sequence sections), or Value (one amqp-value section;
	// nil means absent, so an amqp-value holding null is not represented).
	Data     [][]byte
	Sequence [][]any
	Value    any
	Footer   map[Symbol]any

	// Format is the transfer's message-format (0 for AMQP messages).
	Format uint32
}

// Header is the header section (§3.2.1).
type Header struct {
	Durable       bool
	Priority      uint8         // the spec default, when absent on the wire, is 4
	TTL           time.Duration // millisecond precision; 0 = none
	FirstAcquirer bool
	DeliveryCount uint32
}

// Properties is the properties section (§3.2.4). Zero values are absent.
type Properties struct {
	// MessageID and CorrelationID are message-id types: uint64 (ulong),
	// UUID, []byte (binary) or string; the type survives a round trip,
	// which request/response peers depend on.
	MessageID          any
	UserID             []byte
	To                 string
	Subject            string
	ReplyTo            string
	CorrelationID      any
	ContentType        Symbol
	ContentEncoding    Symbol
	AbsoluteExpiryTime time.Time
	CreationTime       time.Time
	GroupID            string
	GroupSequence      uint32
	ReplyToGroupID     string
}

// Marshal encodes the message's sections.
func (m *Message) Marshal() ([]byte, error) { return m.appendSections(nil) }

// appendSections appends the encoding of the message's sections to b.
func (m *Message) appendSections(b []byte) ([]byte, error) {
	var err error
	if h := m.Header; h != nil {
		var ttl any
		if h.TTL > 0 {
			ttl = uint32(h.TTL.Milliseconds())
		}
		if b, err = appendComposite(b, descHeader, h.Durable, h.Priority, ttl, h.FirstAcquirer, h.DeliveryCount); err != nil {
			return nil, err
		}
	}
	if m.DeliveryAnnotations != nil {
		if b, err = appendDescribed(b, descDeliveryAnn, m.DeliveryAnnotations); err != nil {
			return nil, err
		}
	}
	if m.Annotations != nil {
		if b, err = appendDescribed(b, descMessageAnn, m.Annotations); err != nil {
			return nil, err
		}
	}
	if p := m.Properties; p != nil {
		if err := checkMessageID(p.MessageID); err != nil {
			return nil, fmt.Errorf("amqp: message-id: %w", err)
		}
		if err := checkMessageID(p.CorrelationID); err != nil {
			return nil, fmt.Errorf("amqp: correlation-id: %w", err)
		}
		var gs any
		if p.GroupSequence != 0 {
			gs = p.GroupSequence
		}
		if b, err = appendComposite(b, descProperties, p.MessageID, optBinary(p.UserID), optString(p.To),
			optString(p.Subject), optString(p.ReplyTo), p.CorrelationID, optSymbol(p.ContentType),
			optSymbol(p.ContentEncoding), optTime(p.AbsoluteExpiryTime), optTime(p.CreationTime),
			optString(p.GroupID), gs, optString(p.ReplyToGroupID)); err != nil {
			return nil, err
		}
	}
	if m.ApplicationProperties != nil {
		if b, err = appendDescribed(b, descApplicationProps, m.ApplicationProperties); err != nil {
			return nil, err
		}
	}
	bodies := 0
	for _, d := range m.Data {
		if d == nil {
			d = []byte{}
		}
		if b, err = appendDescribed(b, descData, d); err != nil {
			return nil, err
		}
	}
	if len(m.Data) > 0 {
		bodies++
	}
	for _, s := range m.Sequence {
		if s == nil {
			s = []any{}
		}
		if b, err = appendDescribed(b, descSequence, s); err != nil {
			return nil, err
		}
	}
	if len(m.Sequence) > 0 {
		bodies++
	}
	if m.Value != nil {
		if b, err = appendDescribed(b, descValue, m.Value); err != nil {
			return nil, err
		}
		bodies++
	}
	if bodies > 1 {
		return nil, fmt.Errorf("amqp: message has more than one kind of body")
	}
	if m.Footer != nil {
		if b, err = appendDescribed(b, descFooter, m.Footer); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func checkMessageID(v any) error {
	switch v.(type) {
	case nil, uint64, UUID, []byte, string:
		return nil
	}
	return fmt.Errorf("type %T is not ulong, uuid, binary or string", v)
}

// UnmarshalMessage decodes a message from the concatenated payload of its
// transfers.
func UnmarshalMessage(data []byte) (*Message, error) {
	m := &Message{}
	d := decoder{buf: data}
	last := uint64(0)
	for d.remaining() > 0 {
		v, err := d.value(0)
		if err != nil {
			return nil, err
		}
		s, ok := v.(Described)
		if !ok {
			return nil, decodeErrorf("message section is a %T, not described", v)
		}
		code, ok := descriptorCode(s.Descriptor)
		if !ok || code < descHeader || code > descFooter {
			return nil, decodeErrorf("unknown message section %v", s.Descriptor)
		}
		// Sections come in a fixed order; only body sections repeat.
		if code < last || (code == last && code != descData && code != descSequence) {
			return nil, decodeErrorf("message section 0x%x out of order", code)
		}
		last = code
		if err := m.section(code, s.Value); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Message) section(code uint64, v any) error {
	switch code {
	case descHeader:
		f, ok := v.([]any)
		if !ok {
			return decodeErrorf("header is a %T", v)
		}
		r := fieldReader{what: "header", f: f}
		pri := r.uint32(1, 4)
		if pri > 255 {
			r.fail(1, pri, "ubyte")
		}
		m.Header = &Header{
			Durable: r.bool(0, false), Priority: uint8(pri),
			TTL:           time.Duration(r.uint32(2, 0)) * time.Millisecond,
			FirstAcquirer: r.bool(3, false), DeliveryCount: r.uint32(4, 0),
		}
		return r.err
	case descDeliveryAnn, descMessageAnn, descFooter:
		ann, err := annotations(v)
		if err != nil {
			return err
		}
		switch code {
		case descDeliveryAnn:
			m.DeliveryAnnotations = ann
		case descMessageAnn:
			m.Annotations = ann
		default:
			m.Footer = ann
		}
		return nil
	case descProperties:
		f, ok := v.([]any)
		if !ok {
			return decodeErrorf("properties is a %T", v)
		}
		r := fieldReader{what: "properties", f: f}
		p := &Properties{
			MessageID: r.get(0), UserID: r.binary(1), To: r.string(2), Subject: r.string(3),
			ReplyTo: r.string(4), CorrelationID: r.get(5), ContentType: r.symbol(6),
			ContentEncoding: r.symbol(7), AbsoluteExpiryTime: r.timestamp(8), CreationTime: r.timestamp(9),
			GroupID: r.string(10), GroupSequence: r.uint32(11, 0), ReplyToGroupID: r.string(12),
		}
		if err := checkMessageID(p.MessageID); err != nil && r.err == nil {
			r.err = decodeErrorf("message-id: %v", err)
		}
		if err := checkMessageID(p.CorrelationID); err != nil && r.err == nil {
			r.err = decodeErrorf("correlation-id: %v", err)
		}
		m.Properties = p
		return r.err
	case descApplicationProps:
		mp, ok := v.(Map)
		if !ok {
			return decodeErrorf("application-properties is a %T", v)
		}
		m.ApplicationProperties = make(map[string]any, len(mp))
		for _, kv := range mp {
			k, ok := kv.Key.(string)
			if !ok {
				return decodeErrorf("application-properties key is a %T", kv.Key)
			}
			m.ApplicationProperties[k] = kv.Value
		}
		return nil
	case descData:
		b, ok := v.([]byte)
		if !ok {
			return decodeErrorf("data section is a %T", v)
		}
		if len(m.Sequence) > 0 || m.Value != nil {
			return decodeErrorf("data section after another kind of body")
		}
		m.Data = append(m.Data, b)
		return nil
	case descSequence:
		l, ok := v.([]any)
		if !ok {
			return decodeErrorf("amqp-sequence section is a %T", v)
		}
		if len(m.Data) > 0 || m.Value != nil {
			return decodeErrorf("amqp-sequence section after another kind of body")
		}
		m.Sequence = append(m.Sequence, l)
		return nil
	case descValue:
		if len(m.Data) > 0 || len(m.Sequence) > 0 {
			return decodeErrorf("amqp-value section after another kind of body")
		}
		m.Value = v
		return nil
	}
	return decodeErrorf("unknown message section 0x%x", code)
}

// annotations reads an annotations map. The spec allows ulong keys too
// (reserved for future use); they are kept under their decimal symbol so
// nothing is silently dropped.
func annotations(v any) (map[Symbol]any, error) {
	mp, ok := v.(Map)
	if !ok {
		return nil, decodeErrorf("annotations section is a %T", v)
	}
	out := make(map[Symbol]any, len(mp))
	for _, kv := range mp {
		switch k := kv.Key.(type) {
		case Symbol:
			out[k] = kv.Value
		case uint64:
			out[Symbol(fmt.Sprint(k))] = kv.Value
		default:
			return nil, decodeErrorf("annotation key is a %T", kv.Key)
		}
	}
	return out, nil
}
