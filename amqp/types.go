package amqp

import (
	"encoding/hex"
	"fmt"
)

// The Go representation of AMQP values, used by both Marshal and Unmarshal:
//
//	null        nil
//	boolean     bool
//	ubyte       uint8          byte       int8
//	ushort      uint16         short      int16
//	uint        uint32         int        int32
//	ulong       uint64         long       int64
//	float       float32        double     float64
//	decimal32   Decimal32      decimal64  Decimal64    decimal128 Decimal128
//	char        Char           timestamp  time.Time (UTC, millisecond precision)
//	uuid        UUID           binary     []byte
//	string      string         symbol     Symbol
//	list        []any          map        Map (ordered; keys of any type)
//	array       Array          described  Described
//
// Unmarshal produces exactly these types, so a decoded value marshals back
// to the same AMQP types. Marshal also accepts, for convenience, Go int and
// uint (as int/uint when they fit in 32 bits, else long/ulong),
// map[string]any, map[Symbol]any (encoded with sorted keys, so output is
// deterministic), []Symbol and []string (as arrays), and the composite types
// of this package (*Source, *Target, *Error, delivery states).

// Symbol is an AMQP symbol: an ASCII name, distinct on the wire from string.
type Symbol string

// UUID is an AMQP uuid (RFC 4122 byte order).
type UUID [16]byte

// String formats u in the canonical 8-4-4-4-12 form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Char is an AMQP char: one UTF-32 code point.
type Char rune

// Decimal32, Decimal64 and Decimal128 carry IEEE 754 decimal values as their
// raw big-endian bytes; nothing in this package does decimal arithmetic.
type (
	Decimal32  [4]byte
	Decimal64  [8]byte
	Decimal128 [16]byte
)

// Described is a described value. Descriptor is a uint64 (a numeric
// descriptor, domain<<32 | id) or a Symbol.
type Described struct {
	Descriptor any
	Value      any
}

// KeyValue is one entry of a Map.
type KeyValue struct {
	Key   any
	Value any
}

// Map is an AMQP map kept in wire order. A slice rather than a Go map
// because AMQP keys may be of types Go cannot hash ([]byte, []any) and
// because order must survive a round trip.
type Map []KeyValue

// Get returns the value of the first entry whose key equals key (compared
// with ==, so only for comparable key types) and whether there was one.
func (m Map) Get(key any) (any, bool) {
	for _, kv := range m {
		if comparableEqual(kv.Key, key) {
			return kv.Value, true
		}
	}
	return nil, false
}

func comparableEqual(a, b any) (eq bool) {
	defer func() {
		// == panics on uncomparable dynamic types; those are never equal here.
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// Array is an AMQP array: elements that share one constructor.
//
// Type is the element type as the canonical (widest) format code of its
// family — TypeUint for uint whether the wire used 0x70, 0x52 or 0x43 — so a
// decoded Array compares equal after a round trip. Type 0 lets Marshal infer
// it from the first element. Descriptor, when non-nil, makes the element
// constructor a described one: every element is then Elems[i] described by
// Descriptor.
type Array struct {
	Type       TypeCode
	Descriptor any
	Elems      []any
}

// TypeCode is an AMQP format code.
type TypeCode byte

// Canonical element types for Array.Type.
const (
	TypeNull       TypeCode = 0x40
	TypeBool       TypeCode = 0x56
	TypeUbyte      TypeCode = 0x50
	TypeUshort     TypeCode = 0x60
	TypeUint       TypeCode = 0x70
	TypeUlong      TypeCode = 0x80
	TypeByte       TypeCode = 0x51
	TypeShort      TypeCode = 0x61
	TypeInt        TypeCode = 0x71
	TypeLong       TypeCode = 0x81
	TypeFloat      TypeCode = 0x72
	TypeDouble     TypeCode = 0x82
	TypeDecimal32  TypeCode = 0x74
	TypeDecimal64  TypeCode = 0x84
	TypeDecimal128 TypeCode = 0x94
	TypeChar       TypeCode = 0x73
	TypeTimestamp  TypeCode = 0x83
	TypeUUID       TypeCode = 0x98
	TypeBinary     TypeCode = 0xb0
	TypeString     TypeCode = 0xb1
	TypeSymbol     TypeCode = 0xb3
	TypeList       TypeCode = 0xd0
	TypeMap        TypeCode = 0xd1
	TypeArray      TypeCode = 0xf0
)

// Wire format codes that are not canonical.
const (
	codeDescribed  = 0x00
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeSmallUbyte = 0x52 // smalluint
	codeUint0      = 0x43
	codeSmallUlong = 0x53
	codeUlong0     = 0x44
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeList0      = 0x45
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeArray8     = 0xe0
)

func (c TypeCode) String() string { return fmt.Sprintf("0x%02x", byte(c)) }
