package amqp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMarshalCompact checks the encoder picks the compact encoding of each
// primitive (§1.6) and that the bytes decode back to the same typed value.
func TestMarshalCompact(t *testing.T) {
	ts := time.UnixMilli(1700000000123).UTC()
	uuid := UUID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"null", nil, "40"},
		{"true", true, "41"},
		{"false", false, "42"},
		{"ubyte", uint8(7), "50 07"},
		{"ushort", uint16(0x1234), "60 1234"},
		{"uint0", uint32(0), "43"},
		{"smalluint", uint32(200), "52 c8"},
		{"uint", uint32(0x12345678), "70 12345678"},
		{"ulong0", uint64(0), "44"},
		{"smallulong", uint64(255), "53 ff"},
		{"ulong", uint64(1 << 40), "80 0000010000000000"},
		{"byte", int8(-2), "51 fe"},
		{"short", int16(-2), "61 fffe"},
		{"smallint", int32(-5), "54 fb"},
		{"int", int32(100000), "71 000186a0"},
		{"smalllong", int64(127), "55 7f"},
		{"long", int64(-129), "81 ffffffffffffff7f"},
		{"float", float32(1.5), "72 3fc00000"},
		{"double", float64(-2), "82 c000000000000000"},
		{"decimal32", Decimal32{1, 2, 3, 4}, "74 01020304"},
		{"decimal64", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, "84 0102030405060708"},
		{"decimal128", Decimal128{15: 9}, "94 00000000000000000000000000000009"},
		{"char", Char('€'), "73 000020ac"},
		{"timestamp", ts, "83 0000018bcfe5687b"},
		{"uuid", uuid, "98 000102030405060708090a0b0c0d0e0f"},
		{"vbin8", []byte{1, 2}, "a0 02 0102"},
		{"str8", "hé", "a1 03 68c3a9"},
		{"sym8", Symbol("ab"), "a3 02 6162"},
		{"list0", []any{}, "45"},
		{"list8", []any{true, uint32(1)}, "c0 04 02 41 5201"},
		{"map8", Map{{Symbol("k"), int32(1)}}, "c1 06 02 a3016b 5401"},
		{"map8 empty", Map{}, "c1 01 00"},
		{"array8 sym", []Symbol{"a", "bc"}, "e0 07 02 a3 0161 026263"},
		{"array8 int", Array{Elems: []any{int32(1), int32(-1)}}, "e0 0a 02 71 00000001 ffffffff"},
		{"array8 bool", Array{Type: TypeBool, Elems: []any{true, false}}, "e0 04 02 56 0100"},
		{"array8 null", Array{Type: TypeNull, Elems: []any{nil, nil, nil}}, "e0 02 03 40"},
		{"array8 described", Array{Type: TypeString, Descriptor: uint64(0x77), Elems: []any{"x"}},
			"e0 07 01 00 5377 a1 0178"},
		{"described ulong", Described{uint64(0x24), []any{}}, "00 5324 45"},
		{"described symbol", Described{Symbol("a:b"), "v"}, "00 a303 613a62 a10176"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("Marshal = % x, want % x", got, want)
			}
			back, err := Unmarshal(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.v
			if s, ok := want.([]Symbol); ok {
				want = Array{Type: TypeSymbol, Elems: []any{s[0], s[1]}}
			}
			if a, ok := want.(Array); ok && a.Type == 0 {
				a.Type = TypeInt
				want = a
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("Unmarshal = %#v, want %#v", back, want)
			}
		})
	}
	// The 32-bit length forms, chosen when the 8-bit ones cannot hold the value.
	for _, v := range []any{[]byte(long), long, Symbol(long)} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if b[0]&0xf0 != 0xb0 {
			t.Errorf("%T of 300 bytes encoded with 0x%02x", v, b[0])
		}
		back, err := Unmarshal(b)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Errorf("round trip of %T: %v %v", v, back, err)
		}
	}
}

// TestUnmarshalWideForms decodes the non-compact encodings every peer may
// send, which the encoder never produces.
func TestUnmarshalWideForms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"boolean 0x56 true", "56 01", true},
		{"boolean 0x56 false", "56 00", false},
		{"uint wide small", "70 00000001", uint32(1)},
		{"ulong wide small", "80 0000000000000001", uint64(1)},
		{"int wide small", "71 ffffffff", int32(-1)},
		{"long wide small", "81 0000000000000001", int64(1)},
		{"vbin32", "b0 00000001 ff", []byte{0xff}},
		{"str32", "b1 00000002 6869", "hi"},
		{"sym32", "b3 00000001 61", Symbol("a")},
		{"list32", "d0 00000006 00000002 41 42", []any{true, false}},
		{"map32", "d1 00000008 00000002 a10161 40", Map{{"a", nil}}},
		{"array32", "f0 00000007 00000002 52 01 02", nil}, // smalluint element ctor
		{"array of lists", "e0 12 02 d0 00000004 00000000 00000004 00000000", Array{Type: TypeList, Elems: []any{[]any{}, []any{}}}},
		{"symbolic descriptor", "00 a30461 3a 62 63 45", Described{Symbol("a:bc"), []any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "array32" {
				tt.want = Array{Type: TypeUint, Elems: []any{uint32(1), uint32(2)}}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			// Re-encoding keeps the types.
			b, err := Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Unmarshal(b)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-encoded round trip: %#v %v", again, err)
			}
		})
	}
}

// TestRoundTripNested covers compound values of every kind inside each other.
func TestRoundTripNested(t *testing.T) {
	big := make([]any, 300)
	for i := range big {
		big[i] = uint64(i)
	}
	values := []any{
		[]any{nil, Symbol("s"), "s", []byte("b"), UUID{1}, uint64(1), uint32(1), Map{{uint64(1), []any{}}}},
		Map{{[]byte("binary key"), Array{Type: TypeUlong, Elems: []any{uint64(1), uint64(math.MaxUint64)}}}},
		big,
		Array{Type: TypeMap, Elems: []any{Map{{"a", int32(1)}}, Map{}}},
		Array{Type: TypeArray, Elems: []any{Array{Type: TypeSymbol, Elems: []any{Symbol("x")}}}},
		Array{Type: TypeSymbol, Elems: []any{}},
		Described{uint64(0x0000468C00000004), "amqp.annotation.x-opt-offset > '100'"},
		Array{Type: TypeTimestamp, Elems: []any{time.UnixMilli(0).UTC()}},
		Array{Type: TypeUUID, Elems: []any{UUID{2}}},
		Array{Type: TypeBinary, Elems: []any{[]byte(strings.Repeat("z", 300))}},
	}
	for i, v := range values {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("%d: got %#v, want %#v", i, back, v)
		}
	}
}

func TestMarshalConvenienceTypes(t *testing.T) {
	m := map[string]any{"b": 200, "a": uint(1)}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Unmarshal(b)
	want := Map{{"a", uint32(1)}, {"b", int32(200)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	if _, err := Marshal(struct{}{}); err == nil {
		t.Fatal("unsupported type encoded")
	}
	if _, err := Marshal(string([]byte{0xff})); err == nil {
		t.Fatal("invalid UTF-8 encoded")
	}
	if _, err := Marshal(Array{Type: TypeInt, Elems: []any{"x"}}); err == nil {
		t.Fatal("mixed array encoded")
	}
}

// TestDecodeMalformed: every truncated or invalid input is an error.
func TestDecodeMalformed(t *testing.T) {
	bad := []string{
		"", "70 0000", "a1 05 61", "b1 ffffffff 61", "c0 05 02 41", "c0 00", "d0 00000003",
		"d0 ffffffff ffffffff", "c1 03 01 41", "c1 04 03 41 41 41", "e0 02 05 56", "56 02",
		"a1 01 ff", "00 41 45", "00 00 53 01 45 45", "ff", "e0 03 01 00 53", "e0 02 01 ee",
		"c0 03 01 41 41", // a list with a byte after its elements
	}
	for _, s := range bad {
		if _, err := Unmarshal(unhex(t, s)); err == nil {
			t.Errorf("%q decoded without error", s)
		}
	}
	if _, err := Unmarshal(unhex(t, "41 41")); err == nil {
		t.Error("trailing bytes accepted")
	}
}

// TestDecodeBoundsAllocation: a count claiming 2^32 elements in a few bytes
// must fail fast without allocating for them.
func TestDecodeBoundsAllocation(t *testing.T) {
	inputs := []string{
		"d0 00000008 ffffffff 40",
		"f0 00000005 ffffffff 40",
		"f0 00000005 ffffffff 41",
		"d1 00000008 fffffffe 40",
		"b0 fffffff0 00",
	}
	for _, s := range inputs {
		in := unhex(t, s)
		allocs := testing.AllocsPerRun(10, func() { _, _ = Unmarshal(in) })
		if allocs > 20 {
			t.Errorf("%s: %v allocations", s, allocs)
		}
		if _, err := Unmarshal(in); err == nil {
			t.Errorf("%s decoded", s)
		}
	}
	// Deep nesting stops at maxDepth rather than recursing on.
	deep := bytes.Repeat([]byte{0xc0, 0x00, 0x01}, 10)
	if _, err := Unmarshal(deep); err == nil {
		t.Error("nonsense nesting decoded")
	}
	var nest []byte
	for i := 0; i < 200; i++ {
		nest = append([]byte{0x00, 0x53, 0x01}, nest...)
	}
	nest = append(nest, 0x40)
	if _, err := Unmarshal(nest); err == nil {
		t.Error("nesting beyond maxDepth decoded")
	}
}

func TestUUIDString(t *testing.T) {
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	if got := u.String(); got != "12345678-9abc-def0-0102-030405060708" {
		t.Fatal(got)
	}
	m := Map{{"a", 1}, {[]byte{1}, 2}}
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Fatal("Get")
	}
	if _, ok := m.Get([]byte{1}); ok {
		t.Fatal("uncomparable key matched")
	}
}

// TestCompoundHeaderForms checks lists and maps around the point where the
// 8-bit header no longer fits (size or count), against the layout §1.6.22
// and §1.6.23 give: code, size (bytes after it), count, elements.
func TestCompoundHeaderForms(t *testing.T) {
	for _, n := range []int{1, 120, 126, 127, 128, 254, 255, 256, 300} {
		list := make([]any, n)
		var elems []byte
		for i := range list {
			list[i] = true
			elems = append(elems, codeTrue)
		}
		// Strings push the size past 255 with few elements.
		str := strings.Repeat("s", min(n, 200))
		list = append(list, str)
		elems = append(elems, codeStr8, byte(len(str)))
		elems = append(elems, str...)
		count := len(list)

		var want []byte
		if count < 256 && len(elems)+1 < 256 {
			want = append([]byte{codeList8, byte(len(elems) + 1), byte(count)}, elems...)
		} else {
			want = binary.BigEndian.AppendUint32([]byte{byte(TypeList)}, uint32(len(elems)+4))
			want = binary.BigEndian.AppendUint32(want, uint32(count))
			want = append(want, elems...)
		}
		got, err := Marshal(list)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("list of %d: err %v\n got %x\nwant %x", count, err, got, want)
		}
		back, err := Unmarshal(got)
		if err != nil || len(back.([]any)) != count {
			t.Fatalf("list of %d does not decode: %v", count, err)
		}

		m := Map{}
		for i := range n {
			m = append(m, KeyValue{Key: Symbol(fmt.Sprint(i)), Value: str})
		}
		got, err = Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err = Unmarshal(got)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("map of %d pairs does not round-trip: %v", n, err)
		}
	}
}
