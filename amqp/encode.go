package amqp

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// marshaler is implemented by this package's composite types so they can be
// nested in generic values (a *Source in a list, an *Error in a map).
type marshaler interface {
	appendAMQP(b []byte) ([]byte, error)
}

// Marshal encodes v with the most compact encodings. See the type mapping
// in the Symbol documentation.
func Marshal(v any) ([]byte, error) { return AppendValue(nil, v) }

// AppendValue appends the encoding of v to b.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, byte(TypeNull)), nil
	case marshaler:
		return v.appendAMQP(b)
	case bool:
		if v {
			return append(b, codeTrue), nil
		}
		return append(b, codeFalse), nil
	case uint8:
		return append(b, byte(TypeUbyte), v), nil
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, byte(TypeUshort)), v), nil
	case uint32:
		return appendUint(b, v), nil
	case uint:
		if uint64(v) <= math.MaxUint32 {
			return appendUint(b, uint32(v)), nil
		}
		return appendUlong(b, uint64(v)), nil
	case uint64:
		return appendUlong(b, v), nil
	case int8:
		return append(b, byte(TypeByte), byte(v)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, byte(TypeShort)), uint16(v)), nil
	case int32:
		return appendInt(b, v), nil
	case int:
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			return appendInt(b, int32(v)), nil
		}
		return appendLong(b, int64(v)), nil
	case int64:
		return appendLong(b, v), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, byte(TypeFloat)), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, byte(TypeDouble)), math.Float64bits(v)), nil
	case Decimal32:
		return append(append(b, byte(TypeDecimal32)), v[:]...), nil
	case Decimal64:
		return append(append(b, byte(TypeDecimal64)), v[:]...), nil
	case Decimal128:
		return append(append(b, byte(TypeDecimal128)), v[:]...), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, byte(TypeChar)), uint32(v)), nil
	case time.Time:
		return binary.BigEndian.AppendUint64(append(b, byte(TypeTimestamp)), uint64(v.UnixMilli())), nil
	case UUID:
		return append(append(b, byte(TypeUUID)), v[:]...), nil
	case []byte:
		return appendVariable(b, codeVbin8, byte(TypeBinary), v), nil
	case string:
		if !utf8.ValidString(v) {
			return b, fmt.Errorf("amqp: string is not valid UTF-8")
		}
		return appendVariable(b, codeStr8, byte(TypeString), []byte(v)), nil
	case Symbol:
		return appendVariable(b, codeSym8, byte(TypeSymbol), []byte(v)), nil
	case []any:
		return appendList(b, v)
	case Map:
		return appendMap(b, v)
	case map[string]any:
		return appendMap(b, sortedStringMap(v))
	case map[Symbol]any:
		return appendMap(b, sortedSymbolMap(v))
	case Array:
		return appendArray(b, v)
	case *Array:
		return appendArray(b, *v)
	case []Symbol:
		elems := make([]any, len(v))
		for i, s := range v {
			elems[i] = s
		}
		return appendArray(b, Array{Type: TypeSymbol, Elems: elems})
	case []string:
		elems := make([]any, len(v))
		for i, s := range v {
			elems[i] = s
		}
		return appendArray(b, Array{Type: TypeString, Elems: elems})
	case Described:
		return appendDescribed(b, v.Descriptor, v.Value)
	case *Described:
		return appendDescribed(b, v.Descriptor, v.Value)
	}
	return b, fmt.Errorf("amqp: cannot encode Go type %T", v)
}

func appendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v < 256:
		return append(b, codeSmallUbyte, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, byte(TypeUint)), v)
}

func appendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v < 256:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, byte(TypeUlong)), v)
}

func appendInt(b []byte, v int32) []byte {
	if v >= -128 && v <= 127 {
		return append(b, codeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, byte(TypeInt)), uint32(v))
}

func appendLong(b []byte, v int64) []byte {
	if v >= -128 && v <= 127 {
		return append(b, codeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, byte(TypeLong)), uint64(v))
}

// appendVariable writes a vbin/str/sym with the one-byte length form when it
// fits.
func appendVariable(b []byte, code8, code32 byte, v []byte) []byte {
	if len(v) < 256 {
		b = append(b, code8, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(append(b, code32), uint32(len(v)))
	}
	return append(b, v...)
}

func appendDescribed(b []byte, descriptor, value any) ([]byte, error) {
	switch descriptor.(type) {
	case uint64, Symbol:
	default:
		return b, fmt.Errorf("amqp: descriptor must be uint64 or Symbol, not %T", descriptor)
	}
	b = append(b, codeDescribed)
	b, err := AppendValue(b, descriptor)
	if err != nil {
		return b, err
	}
	return AppendValue(b, value)
}

// Lists and maps are encoded in place: beginCompound reserves the 8-bit
// header, the elements are appended after it, and endCompound fills the
// header in, or widens it to the 32-bit form when count or size needs it.
// Encoding each element into a buffer of its own and copying it behind the
// header cost an allocation and a copy per list or map, on every frame.
func beginCompound(b []byte) ([]byte, int) { return append(b, 0, 0, 0), len(b) }

func endCompound(b []byte, start int, code8, code32 byte, count int) []byte {
	body := len(b) - start - 3
	if count < 256 && body+1 < 256 {
		b[start], b[start+1], b[start+2] = code8, byte(body+1), byte(count)
		return b
	}
	b = append(b, make([]byte, 6)...) // the 32-bit header is 6 bytes longer
	copy(b[start+9:], b[start+3:start+3+body])
	b[start] = code32
	binary.BigEndian.PutUint32(b[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(b[start+5:], uint32(count))
	return b
}

func appendList(b []byte, elems []any) ([]byte, error) {
	if len(elems) == 0 {
		return append(b, codeList0), nil
	}
	b, start := beginCompound(b)
	for _, e := range elems {
		var err error
		if b, err = AppendValue(b, e); err != nil {
			return b[:start], err
		}
	}
	return endCompound(b, start, codeList8, byte(TypeList), len(elems)), nil
}

func appendMap(b []byte, m Map) ([]byte, error) {
	b, start := beginCompound(b)
	for _, kv := range m {
		var err error
		if b, err = AppendValue(b, kv.Key); err != nil {
			return b[:start], err
		}
		if b, err = AppendValue(b, kv.Value); err != nil {
			return b[:start], err
		}
	}
	return endCompound(b, start, codeMap8, byte(TypeMap), 2*len(m)), nil
}

// sortedStringMap and sortedSymbolMap order a map's pairs by key, so the
// encoding does not depend on Go's map order.
func sortedStringMap(m map[string]any) Map {
	out := make(Map, 0, len(m))
	for k, v := range m {
		out = append(out, KeyValue{k, v})
	}
	slices.SortFunc(out, func(a, b KeyValue) int { return strings.Compare(a.Key.(string), b.Key.(string)) })
	return out
}

func sortedSymbolMap(m map[Symbol]any) Map {
	out := make(Map, 0, len(m))
	for k, v := range m {
		out = append(out, KeyValue{k, v})
	}
	slices.SortFunc(out, func(a, b KeyValue) int { return strings.Compare(string(a.Key.(Symbol)), string(b.Key.(Symbol))) })
	return out
}
