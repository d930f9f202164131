package amqp

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// typeOf is the canonical type code Marshal uses for a Go value; it lets an
// Array with Type 0 take its element type from its first element.
func typeOf(v any) (TypeCode, error) {
	switch v := v.(type) {
	case nil:
		return TypeNull, nil
	case bool:
		return TypeBool, nil
	case uint8:
		return TypeUbyte, nil
	case uint16:
		return TypeUshort, nil
	case uint32:
		return TypeUint, nil
	case uint64:
		return TypeUlong, nil
	case int8:
		return TypeByte, nil
	case int16:
		return TypeShort, nil
	case int32:
		return TypeInt, nil
	case int64:
		return TypeLong, nil
	case float32:
		return TypeFloat, nil
	case float64:
		return TypeDouble, nil
	case Decimal32:
		return TypeDecimal32, nil
	case Decimal64:
		return TypeDecimal64, nil
	case Decimal128:
		return TypeDecimal128, nil
	case Char:
		return TypeChar, nil
	case time.Time:
		return TypeTimestamp, nil
	case UUID:
		return TypeUUID, nil
	case []byte:
		return TypeBinary, nil
	case string:
		return TypeString, nil
	case Symbol:
		return TypeSymbol, nil
	case []any:
		return TypeList, nil
	case Map:
		return TypeMap, nil
	case Array, *Array:
		return TypeArray, nil
	default:
		return 0, fmt.Errorf("amqp: type %T cannot be an array element", v)
	}
}

func appendArray(b []byte, a Array) ([]byte, error) {
	t := a.Type
	if t == 0 {
		if len(a.Elems) == 0 {
			t = TypeNull
		} else {
			var err error
			if t, err = typeOf(a.Elems[0]); err != nil {
				return b, err
			}
		}
	}
	code := byte(t)
	// Variable-width families take the 8-bit length form only when every
	// element fits it, since all elements share one constructor.
	if t == TypeBinary || t == TypeString || t == TypeSymbol {
		small := true
		for _, e := range a.Elems {
			if n, ok := variableLen(e); ok && n > 255 {
				small = false
			}
		}
		if small {
			code -= 0x10 // 0xb0→0xa0, 0xb1→0xa1, 0xb3→0xa3
		}
	}
	var ctor []byte
	if a.Descriptor != nil {
		var err error
		ctor = append(ctor, codeDescribed)
		if ctor, err = AppendValue(ctor, a.Descriptor); err != nil {
			return b, err
		}
	}
	ctor = append(ctor, code)
	var body []byte
	for _, e := range a.Elems {
		var err error
		if body, err = appendArrayElem(body, code, e); err != nil {
			return b, err
		}
	}
	n := len(a.Elems)
	if n < 256 && 1+len(ctor)+len(body) < 256 {
		b = append(b, codeArray8, byte(1+len(ctor)+len(body)), byte(n))
	} else {
		b = append(b, byte(TypeArray))
		b = binary.BigEndian.AppendUint32(b, uint32(4+len(ctor)+len(body)))
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(append(b, ctor...), body...), nil
}

func variableLen(v any) (int, bool) {
	switch v := v.(type) {
	case []byte:
		return len(v), true
	case string:
		return len(v), true
	case Symbol:
		return len(v), true
	}
	return 0, false
}

func elemTypeError(code byte, v any) error {
	return fmt.Errorf("amqp: array of 0x%02x cannot hold %T", code, v)
}

// appendArrayElem writes v without its constructor, in the fixed encoding
// that code names.
func appendArrayElem(b []byte, code byte, v any) ([]byte, error) {
	be := binary.BigEndian
	switch TypeCode(code) {
	case TypeNull:
		if v != nil {
			return b, elemTypeError(code, v)
		}
		return b, nil
	case TypeBool:
		x, ok := v.(bool)
		if !ok {
			return b, elemTypeError(code, v)
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case TypeUbyte:
		x, ok := v.(uint8)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, x), nil
	case TypeByte:
		x, ok := v.(int8)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, byte(x)), nil
	case TypeUshort:
		x, ok := v.(uint16)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint16(b, x), nil
	case TypeShort:
		x, ok := v.(int16)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint16(b, uint16(x)), nil
	case TypeUint:
		x, ok := v.(uint32)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint32(b, x), nil
	case TypeInt:
		x, ok := v.(int32)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint32(b, uint32(x)), nil
	case TypeChar:
		x, ok := v.(Char)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint32(b, uint32(x)), nil
	case TypeFloat:
		x, ok := v.(float32)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint32(b, math.Float32bits(x)), nil
	case TypeUlong:
		x, ok := v.(uint64)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint64(b, x), nil
	case TypeLong:
		x, ok := v.(int64)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint64(b, uint64(x)), nil
	case TypeDouble:
		x, ok := v.(float64)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint64(b, math.Float64bits(x)), nil
	case TypeTimestamp:
		x, ok := v.(time.Time)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return be.AppendUint64(b, uint64(x.UnixMilli())), nil
	case TypeDecimal32:
		x, ok := v.(Decimal32)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, x[:]...), nil
	case TypeDecimal64:
		x, ok := v.(Decimal64)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, x[:]...), nil
	case TypeDecimal128:
		x, ok := v.(Decimal128)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, x[:]...), nil
	case TypeUUID:
		x, ok := v.(UUID)
		if !ok {
			return b, elemTypeError(code, v)
		}
		return append(b, x[:]...), nil
	case codeVbin8, codeStr8, codeSym8, TypeBinary, TypeString, TypeSymbol:
		var raw []byte
		switch x := v.(type) {
		case []byte:
			if code != codeVbin8 && code != byte(TypeBinary) {
				return b, elemTypeError(code, v)
			}
			raw = x
		case string:
			if code != codeStr8 && code != byte(TypeString) {
				return b, elemTypeError(code, v)
			}
			if !utf8.ValidString(x) {
				return b, fmt.Errorf("amqp: string is not valid UTF-8")
			}
			raw = []byte(x)
		case Symbol:
			if code != codeSym8 && code != byte(TypeSymbol) {
				return b, elemTypeError(code, v)
			}
			raw = []byte(x)
		default:
			return b, elemTypeError(code, v)
		}
		if code < 0xb0 {
			b = append(b, byte(len(raw)))
		} else {
			b = be.AppendUint32(b, uint32(len(raw)))
		}
		return append(b, raw...), nil
	case TypeList, TypeMap, TypeArray:
		// Encode the value normally, then rewrite it to the 32-bit form the
		// shared constructor names.
		enc, err := AppendValue(nil, v)
		if err != nil {
			return b, err
		}
		return appendWide(b, code, enc)
	}
	return b, fmt.Errorf("amqp: unsupported array element type 0x%02x", code)
}

// appendWide re-emits an encoded list/map/array (with its constructor) as the
// body of its 32-bit form, without the constructor.
func appendWide(b []byte, code byte, enc []byte) ([]byte, error) {
	be := binary.BigEndian
	want := map[byte][3]byte{
		byte(TypeList):  {codeList0, codeList8, byte(TypeList)},
		byte(TypeMap):   {0, codeMap8, byte(TypeMap)},
		byte(TypeArray): {0, codeArray8, byte(TypeArray)},
	}[code]
	switch enc[0] {
	case want[2]:
		return append(b, enc[1:]...), nil
	case want[1]:
		count := enc[2]
		body := enc[3:]
		b = be.AppendUint32(b, uint32(4+len(body)))
		b = be.AppendUint32(b, uint32(count))
		return append(b, body...), nil
	case codeList0:
		if code == byte(TypeList) {
			b = be.AppendUint32(b, 4)
			return be.AppendUint32(b, 0), nil
		}
	}
	return b, fmt.Errorf("amqp: array of 0x%02x cannot hold that value", code)
}
