package amqp

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets check the decoders are total: any input gives a value or
// an error, never a panic, and what decodes re-encodes to something that
// decodes to the same value. `go test` runs the seeds.

func seedValues(f *testing.F) {
	for _, v := range []any{nil, true, uint32(300), int64(-1), "s", Symbol("y"), []byte{1}, UUID{1},
		[]any{uint8(1), Map{{"k", []any{}}}}, Array{Type: TypeSymbol, Elems: []any{Symbol("a")}},
		Described{uint64(0x24), []any{}}, Array{Type: TypeNull, Elems: []any{nil}}} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xd0, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0x40})
	f.Add([]byte{0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x41})
}

func FuzzDecodeValue(f *testing.F) {
	seedValues(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, _, err := DecodeValue(data)
		if err != nil {
			return
		}
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		again, _, err := DecodeValue(b)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalizeNaN(v), normalizeNaN(again)) {
			t.Fatalf("round trip changed %#v into %#v", v, again)
		}
	})
}

// normalizeNaN lets NaN floats compare equal to themselves.
func normalizeNaN(v any) any {
	switch x := v.(type) {
	case float32:
		if x != x {
			return "NaN"
		}
	case float64:
		if x != x {
			return "NaN"
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalizeNaN(x[i])
		}
		return out
	case Map:
		out := make(Map, len(x))
		for i := range x {
			out[i] = KeyValue{normalizeNaN(x[i].Key), normalizeNaN(x[i].Value)}
		}
		return out
	case Array:
		out := x
		out.Elems = normalizeNaN(x.Elems).([]any)
		return out
	case Described:
		return Described{normalizeNaN(x.Descriptor), normalizeNaN(x.Value)}
	}
	return v
}

func FuzzFrame(f *testing.F) {
	for _, p := range samplePerformatives() {
		b, err := appendFrame(nil, frameAMQP, 1, p, []byte("x"))
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readFrame(bytes.NewReader(data), 1<<16)
	})
}

func FuzzPerformative(f *testing.F) {
	for _, p := range samplePerformatives() {
		b, err := p.appendAMQP(nil)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := decodePerformative(data)
		if err != nil {
			return
		}
		b, err := p.appendAMQP(nil)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", p, err)
		}
		if _, _, err := decodePerformative(b); err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", p, err)
		}
	})
}

// FuzzDescribedTypes covers the composite decoders used inside performatives.
func FuzzDescribedTypes(f *testing.F) {
	for _, v := range []marshaler{&Source{Address: "a", Filter: map[Symbol]any{"f": Described{Symbol("x"), "y"}}},
		&Target{Address: "t"}, &Error{Condition: CondNotFound, Info: map[Symbol]any{"k": 1}},
		&Accepted{}, &Rejected{}, &Released{}, &Modified{DeliveryFailed: true}, &Received{}} {
		b, err := v.appendAMQP(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		_, _ = decodeSource(v)
		_, _ = decodeTarget(v)
		_, _ = decodeError(v)
		_, _ = decodeDeliveryState(v)
	})
}

func FuzzMessage(f *testing.F) {
	for _, m := range []*Message{
		{Data: [][]byte{[]byte("x")}},
		{Properties: &Properties{MessageID: uint64(1), ReplyTo: "r"}, ApplicationProperties: map[string]any{"a": int32(1)},
			Value: "v"},
		{Header: &Header{Durable: true}, Annotations: map[Symbol]any{"x-opt-a": "b"}, Sequence: [][]any{{1}}},
	} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalMessage(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			return // e.g. an annotation value Marshal cannot represent back is fine to refuse
		}
		if _, err := UnmarshalMessage(b); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}
