package amqp

import (
	"time"
)

// Descriptor codes of AMQP 1.0 composite types (domain 0x00000000).
const (
	descOpen          uint64 = 0x10
	descBegin         uint64 = 0x11
	descAttach        uint64 = 0x12
	descFlow          uint64 = 0x13
	descTransfer      uint64 = 0x14
	descDisposition   uint64 = 0x15
	descDetach        uint64 = 0x16
	descEnd           uint64 = 0x17
	descClose         uint64 = 0x18
	descError         uint64 = 0x1d
	descReceived      uint64 = 0x23
	descAccepted      uint64 = 0x24
	descRejected      uint64 = 0x25
	descReleased      uint64 = 0x26
	descModified      uint64 = 0x27
	descSource        uint64 = 0x28
	descTarget        uint64 = 0x29
	descSASLMechs     uint64 = 0x40
	descSASLInit      uint64 = 0x41
	descSASLChallenge uint64 = 0x42
	descSASLResponse  uint64 = 0x43
	descSASLOutcome   uint64 = 0x44

	descHeader           uint64 = 0x70
	descDeliveryAnn      uint64 = 0x71
	descMessageAnn       uint64 = 0x72
	descProperties       uint64 = 0x73
	descApplicationProps uint64 = 0x74
	descData             uint64 = 0x75
	descSequence         uint64 = 0x76
	descValue            uint64 = 0x77
	descFooter           uint64 = 0x78
)

// symbolicDescriptors lets peers that use the symbolic form of a descriptor
// be understood; this package always sends the numeric form.
var symbolicDescriptors = map[Symbol]uint64{
	"amqp:open:list": descOpen, "amqp:begin:list": descBegin, "amqp:attach:list": descAttach,
	"amqp:flow:list": descFlow, "amqp:transfer:list": descTransfer, "amqp:disposition:list": descDisposition,
	"amqp:detach:list": descDetach, "amqp:end:list": descEnd, "amqp:close:list": descClose,
	"amqp:error:list": descError, "amqp:received:list": descReceived, "amqp:accepted:list": descAccepted,
	"amqp:rejected:list": descRejected, "amqp:released:list": descReleased, "amqp:modified:list": descModified,
	"amqp:source:list": descSource, "amqp:target:list": descTarget,
	"amqp:sasl-mechanisms:list": descSASLMechs, "amqp:sasl-init:list": descSASLInit,
	"amqp:sasl-challenge:list": descSASLChallenge, "amqp:sasl-response:list": descSASLResponse,
	"amqp:sasl-outcome:list": descSASLOutcome,
	"amqp:header:list":       descHeader, "amqp:delivery-annotations:map": descDeliveryAnn,
	"amqp:message-annotations:map": descMessageAnn, "amqp:properties:list": descProperties,
	"amqp:application-properties:map": descApplicationProps, "amqp:data:binary": descData,
	"amqp:amqp-sequence:list": descSequence, "amqp:amqp-value:*": descValue, "amqp:footer:map": descFooter,
}

// descriptorCode returns the numeric code of a decoded descriptor.
func descriptorCode(desc any) (uint64, bool) {
	switch d := desc.(type) {
	case uint64:
		return d, true
	case Symbol:
		c, ok := symbolicDescriptors[d]
		return c, ok
	}
	return 0, false
}

// composite splits a decoded value into a descriptor code and its list of
// fields.
func composite(v any) (uint64, []any, error) {
	d, ok := v.(Described)
	if !ok {
		return 0, nil, decodeErrorf("expected a described type, got %T", v)
	}
	code, ok := descriptorCode(d.Descriptor)
	if !ok {
		return 0, nil, decodeErrorf("unknown descriptor %v", d.Descriptor)
	}
	fields, ok := d.Value.([]any)
	if !ok {
		return code, nil, decodeErrorf("descriptor 0x%x: expected a list, got %T", code, d.Value)
	}
	return code, fields, nil
}

// appendComposite encodes a described list with every field present, which
// some peers require (they read fields by position).
func appendComposite(b []byte, code uint64, fields ...any) ([]byte, error) {
	b = append(b, codeDescribed)
	b = appendUlong(b, code)
	return appendList(b, fields)
}

// fieldReader converts the generic fields of a composite into typed ones,
// keeping the first error so callers can read all fields then check once.
type fieldReader struct {
	what string
	f    []any
	err  error
}

func (r *fieldReader) get(i int) any {
	if i < len(r.f) {
		return r.f[i]
	}
	return nil
}

func (r *fieldReader) fail(i int, v any, want string) {
	if r.err == nil {
		r.err = decodeErrorf("%s field %d: expected %s, got %T", r.what, i, want, v)
	}
}

func (r *fieldReader) mandatory(i int) {
	if r.get(i) == nil && r.err == nil {
		r.err = decodeErrorf("%s field %d is mandatory", r.what, i)
	}
}

// uint reads any unsigned integer that fits in 64 bits; peers differ in the
// width they choose, and the spec's type is a ceiling, not a format.
func (r *fieldReader) uint(i int, max uint64) (uint64, bool) {
	switch v := r.get(i).(type) {
	case nil:
		return 0, false
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		if uint64(v) <= max {
			return uint64(v), true
		}
	case uint64:
		if v <= max {
			return v, true
		}
	}
	r.fail(i, r.get(i), "unsigned integer")
	return 0, false
}

func (r *fieldReader) uint32(i int, def uint32) uint32 {
	if v, ok := r.uint(i, 1<<32-1); ok {
		return uint32(v)
	}
	return def
}

func (r *fieldReader) optUint32(i int) *uint32 {
	if v, ok := r.uint(i, 1<<32-1); ok {
		x := uint32(v)
		return &x
	}
	return nil
}

func (r *fieldReader) uint64(i int, def uint64) uint64 {
	if v, ok := r.uint(i, 1<<64-1); ok {
		return v
	}
	return def
}

func (r *fieldReader) bool(i int, def bool) bool {
	switch v := r.get(i).(type) {
	case nil:
		return def
	case bool:
		return v
	}
	r.fail(i, r.get(i), "boolean")
	return def
}

func (r *fieldReader) string(i int) string {
	switch v := r.get(i).(type) {
	case nil:
		return ""
	case string:
		return v
	case Symbol:
		return string(v)
	}
	r.fail(i, r.get(i), "string")
	return ""
}

func (r *fieldReader) symbol(i int) Symbol {
	switch v := r.get(i).(type) {
	case nil:
		return ""
	case Symbol:
		return v
	case string:
		return Symbol(v)
	}
	r.fail(i, r.get(i), "symbol")
	return ""
}

func (r *fieldReader) binary(i int) []byte {
	switch v := r.get(i).(type) {
	case nil:
		return nil
	case []byte:
		return v
	}
	r.fail(i, r.get(i), "binary")
	return nil
}

func (r *fieldReader) timestamp(i int) time.Time {
	switch v := r.get(i).(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return v
	}
	r.fail(i, r.get(i), "timestamp")
	return time.Time{}
}

// symbols reads a multiple="true" symbol field: null, one symbol, or an
// array of symbols.
func (r *fieldReader) symbols(i int) []Symbol {
	switch v := r.get(i).(type) {
	case nil:
		return nil
	case Symbol:
		return []Symbol{v}
	case Array:
		out := make([]Symbol, 0, len(v.Elems))
		for _, e := range v.Elems {
			s, ok := e.(Symbol)
			if !ok {
				r.fail(i, e, "symbol array")
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	r.fail(i, r.get(i), "symbol array")
	return nil
}

// fields reads a map keyed by symbols (the spec's fields and annotations).
func (r *fieldReader) fields(i int) map[Symbol]any {
	v := r.get(i)
	if v == nil {
		return nil
	}
	m, ok := v.(Map)
	if !ok {
		r.fail(i, v, "map")
		return nil
	}
	out, err := symbolMap(m)
	if err != nil && r.err == nil {
		r.err = decodeErrorf("%s field %d: %v", r.what, i, err)
	}
	return out
}

func symbolMap(m Map) (map[Symbol]any, error) {
	out := make(map[Symbol]any, len(m))
	for _, kv := range m {
		k, ok := kv.Key.(Symbol)
		if !ok {
			return nil, decodeErrorf("map key of type %T, want symbol", kv.Key)
		}
		out[k] = kv.Value
	}
	return out, nil
}

func (r *fieldReader) error(i int) *Error {
	v := r.get(i)
	if v == nil {
		return nil
	}
	e, err := decodeError(v)
	if err != nil && r.err == nil {
		r.err = err
	}
	return e
}

func (r *fieldReader) state(i int) DeliveryState {
	v := r.get(i)
	if v == nil {
		return nil
	}
	s, err := decodeDeliveryState(v)
	if err != nil && r.err == nil {
		r.err = err
	}
	return s
}

// Helpers that turn Go zero values into AMQP nulls when encoding, so that a
// nil map or slice is sent as null rather than an empty compound.

func optSymbols(s []Symbol) any {
	if s == nil {
		return nil
	}
	return s
}

func optFields(m map[Symbol]any) any {
	if m == nil {
		return nil
	}
	return m
}

func optString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func optSymbol(s Symbol) any {
	if s == "" {
		return nil
	}
	return s
}

func optBinary(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func optUint32(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func optError(e *Error) any {
	if e == nil {
		return nil
	}
	return e
}

func optState(s DeliveryState) any {
	if s == nil {
		return nil
	}
	return s
}
