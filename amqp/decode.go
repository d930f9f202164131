package amqp

import (
	"encoding/binary"
	"math"
	"time"
	"unicode/utf8"
)

// maxDepth bounds nesting so hostile input cannot recurse without limit.
const maxDepth = 64

// Unmarshal decodes exactly one AMQP value from data; trailing bytes are an
// error. It never panics, and allocates at most in proportion to len(data).
func Unmarshal(data []byte) (any, error) {
	v, n, err := DecodeValue(data)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, decodeErrorf("%d trailing bytes", len(data)-n)
	}
	return v, nil
}

// DecodeValue decodes the first AMQP value in data and returns it with the
// number of bytes it took.
func DecodeValue(data []byte) (any, int, error) {
	d := decoder{buf: data}
	v, err := d.value(0)
	return v, d.off, err
}

// decoder reads values from buf starting at off.
type decoder struct {
	buf []byte
	off int
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, decodeErrorf("need %d bytes at offset %d, have %d", n, d.off, d.remaining())
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) byte() (byte, error) {
	b, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// value decodes one value: constructor and data.
func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, decodeErrorf("nesting deeper than %d", maxDepth)
	}
	code, err := d.byte()
	if err != nil {
		return nil, err
	}
	if code == codeDescribed {
		desc, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := checkDescriptor(desc); err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		return Described{Descriptor: desc, Value: v}, nil
	}
	return d.primitive(code, depth)
}

func checkDescriptor(desc any) error {
	switch desc.(type) {
	case uint64, Symbol:
		return nil
	}
	return decodeErrorf("descriptor of type %T", desc)
}

// primitive decodes the data of a value whose constructor is code.
func (d *decoder) primitive(code byte, depth int) (any, error) {
	switch code {
	case byte(TypeNull):
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeUint0:
		return uint32(0), nil
	case codeUlong0:
		return uint64(0), nil
	case codeList0:
		return []any{}, nil
	}
	// Every other constructor has a fixed or length-prefixed width.
	switch code & 0xf0 {
	case 0x50, 0x60, 0x70, 0x80, 0x90:
		n := map[byte]int{0x50: 1, 0x60: 2, 0x70: 4, 0x80: 8, 0x90: 16}[code&0xf0]
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		return fixed(code, b)
	case 0xa0, 0xb0:
		var n int
		if code&0xf0 == 0xa0 {
			c, err := d.byte()
			if err != nil {
				return nil, err
			}
			n = int(c)
		} else {
			c, err := d.u32()
			if err != nil {
				return nil, err
			}
			if uint64(c) > uint64(d.remaining()) {
				return nil, decodeErrorf("length %d exceeds input", c)
			}
			n = int(c)
		}
		b, err := d.take(n)
		if err != nil {
			return nil, err
		}
		return variable(code|0x10, b)
	case 0xc0, 0xd0:
		size, count, err := d.compoundHeader(code&0xf0 == 0xc0, false)
		if err != nil {
			return nil, err
		}
		sub := decoder{buf: d.buf[d.off : d.off+size]}
		d.off += size
		switch code | 0x10 {
		case byte(TypeList):
			return sub.list(count, depth)
		case byte(TypeMap):
			return sub.mapBody(count, depth)
		}
	case 0xe0, 0xf0:
		if code|0x10 != byte(TypeArray) {
			break
		}
		size, count, err := d.compoundHeader(code == codeArray8, true)
		if err != nil {
			return nil, err
		}
		sub := decoder{buf: d.buf[d.off : d.off+size]}
		d.off += size
		return sub.array(count, depth)
	}
	return nil, decodeErrorf("unknown format code 0x%02x", code)
}

// compoundHeader reads size and count and checks them against the input,
// which is what bounds allocation: a list or map element takes at least one
// byte, so count <= size. Array elements may take none (null, true, list0
// constructors), so arrays get a small linear allowance instead.
func (d *decoder) compoundHeader(small, array bool) (size, count int, err error) {
	var s, c uint32
	if small {
		b, err := d.take(2)
		if err != nil {
			return 0, 0, err
		}
		s, c = uint32(b[0]), uint32(b[1])
		if s < 1 {
			return 0, 0, decodeErrorf("compound size %d too small", s)
		}
		s--
	} else {
		if s, err = d.u32(); err != nil {
			return 0, 0, err
		}
		if s < 4 {
			return 0, 0, decodeErrorf("compound size %d too small", s)
		}
		if uint64(s) > uint64(d.remaining()) {
			return 0, 0, decodeErrorf("compound size %d exceeds input", s)
		}
		if c, err = d.u32(); err != nil {
			return 0, 0, err
		}
		s -= 4
	}
	if uint64(s) > uint64(d.remaining()) {
		return 0, 0, decodeErrorf("compound size %d exceeds input", s)
	}
	limit := uint64(s)
	if array {
		limit = 8*uint64(s) + 64
	}
	if uint64(c) > limit {
		return 0, 0, decodeErrorf("count %d exceeds what %d bytes can hold", c, s)
	}
	return int(s), int(c), nil
}

func (d *decoder) list(count, depth int) (any, error) {
	out := make([]any, 0, count)
	for i := 0; i < count; i++ {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if d.remaining() != 0 {
		return nil, decodeErrorf("list has %d bytes after its elements", d.remaining())
	}
	return out, nil
}

func (d *decoder) mapBody(count, depth int) (any, error) {
	if count%2 != 0 {
		return nil, decodeErrorf("map with odd element count %d", count)
	}
	out := make(Map, 0, count/2)
	for i := 0; i < count; i += 2 {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyValue{k, v})
	}
	if d.remaining() != 0 {
		return nil, decodeErrorf("map has %d bytes after its elements", d.remaining())
	}
	return out, nil
}

// array decodes an array body: one constructor then count element bodies.
func (d *decoder) array(count, depth int) (any, error) {
	if depth > maxDepth {
		return nil, decodeErrorf("nesting deeper than %d", maxDepth)
	}
	var a Array
	code, err := d.byte()
	if err != nil {
		return nil, err
	}
	if code == codeDescribed {
		if a.Descriptor, err = d.value(depth + 1); err != nil {
			return nil, err
		}
		if err := checkDescriptor(a.Descriptor); err != nil {
			return nil, err
		}
		if code, err = d.byte(); err != nil {
			return nil, err
		}
		if code == codeDescribed {
			return nil, decodeErrorf("array element constructor described twice")
		}
	}
	t, ok := canonical(code)
	if !ok {
		return nil, decodeErrorf("array element constructor 0x%02x", code)
	}
	a.Type = t
	// count was bounded by the array's byte size in compoundHeader.
	a.Elems = make([]any, 0, count)
	for i := 0; i < count; i++ {
		v, err := d.primitive(code, depth+1)
		if err != nil {
			return nil, err
		}
		a.Elems = append(a.Elems, v)
	}
	if d.remaining() != 0 {
		return nil, decodeErrorf("array has %d bytes after its elements", d.remaining())
	}
	return a, nil
}

// canonical maps a wire format code to its family's canonical code.
func canonical(code byte) (TypeCode, bool) {
	switch code {
	case byte(TypeNull):
		return TypeNull, true
	case codeTrue, codeFalse, byte(TypeBool):
		return TypeBool, true
	case codeUint0, codeSmallUbyte, byte(TypeUint):
		return TypeUint, true
	case codeUlong0, codeSmallUlong, byte(TypeUlong):
		return TypeUlong, true
	case codeSmallInt, byte(TypeInt):
		return TypeInt, true
	case codeSmallLong, byte(TypeLong):
		return TypeLong, true
	case codeVbin8, byte(TypeBinary):
		return TypeBinary, true
	case codeStr8, byte(TypeString):
		return TypeString, true
	case codeSym8, byte(TypeSymbol):
		return TypeSymbol, true
	case codeList0, codeList8, byte(TypeList):
		return TypeList, true
	case codeMap8, byte(TypeMap):
		return TypeMap, true
	case codeArray8, byte(TypeArray):
		return TypeArray, true
	case byte(TypeUbyte), byte(TypeUshort), byte(TypeByte), byte(TypeShort),
		byte(TypeFloat), byte(TypeDouble), byte(TypeDecimal32), byte(TypeDecimal64),
		byte(TypeDecimal128), byte(TypeChar), byte(TypeTimestamp), byte(TypeUUID):
		return TypeCode(code), true
	}
	return 0, false
}

// fixed decodes a fixed-width value.
func fixed(code byte, b []byte) (any, error) {
	be := binary.BigEndian
	switch code {
	case byte(TypeUbyte):
		return b[0], nil
	case byte(TypeByte):
		return int8(b[0]), nil
	case codeSmallUbyte:
		return uint32(b[0]), nil
	case codeSmallUlong:
		return uint64(b[0]), nil
	case codeSmallInt:
		return int32(int8(b[0])), nil
	case codeSmallLong:
		return int64(int8(b[0])), nil
	case byte(TypeBool):
		switch b[0] {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, decodeErrorf("boolean byte 0x%02x", b[0])
	case byte(TypeUshort):
		return be.Uint16(b), nil
	case byte(TypeShort):
		return int16(be.Uint16(b)), nil
	case byte(TypeUint):
		return be.Uint32(b), nil
	case byte(TypeInt):
		return int32(be.Uint32(b)), nil
	case byte(TypeFloat):
		return math.Float32frombits(be.Uint32(b)), nil
	case byte(TypeChar):
		return Char(be.Uint32(b)), nil
	case byte(TypeDecimal32):
		return Decimal32(b), nil
	case byte(TypeUlong):
		return be.Uint64(b), nil
	case byte(TypeLong):
		return int64(be.Uint64(b)), nil
	case byte(TypeDouble):
		return math.Float64frombits(be.Uint64(b)), nil
	case byte(TypeTimestamp):
		return time.UnixMilli(int64(be.Uint64(b))).UTC(), nil
	case byte(TypeDecimal64):
		return Decimal64(b), nil
	case byte(TypeDecimal128):
		return Decimal128(b), nil
	case byte(TypeUUID):
		return UUID(b), nil
	}
	return nil, decodeErrorf("unknown format code 0x%02x", code)
}

// variable decodes binary, string or symbol data; code is the 32-bit form.
func variable(code byte, b []byte) (any, error) {
	switch code {
	case byte(TypeBinary):
		out := make([]byte, len(b)) // a copy: the frame buffer is not ours to keep
		copy(out, b)
		return out, nil
	case byte(TypeString):
		if !utf8.Valid(b) {
			return nil, decodeErrorf("string is not valid UTF-8")
		}
		return string(b), nil
	case byte(TypeSymbol):
		return Symbol(b), nil
	}
	return nil, decodeErrorf("unknown format code 0x%02x", code|0x10)
}
