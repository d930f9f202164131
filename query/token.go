package query

import (
	"encoding/base64"
	"encoding/binary"
)

// A continuation token is base64url of:
//
//	version (1 byte) | kind (1 byte) | query hash (8 bytes) |
//	rows returned so far (uvarint) | kind-specific payload
//
// A scan token's payload is the last returned key, so the next page resumes
// strictly after it whatever was inserted or deleted meanwhile. An offset
// token (aggregates) carries the number of computed rows already returned.
const tokenVersion = 1

const (
	tokScan   = 1
	tokOffset = 2
)

type cont struct {
	kind     byte
	returned int
	key      string // scan: last returned key
	offset   int    // offset: rows of the computed result already returned
}

func encodeToken(q *Query, c cont) string {
	b := make([]byte, 0, 20+len(c.key))
	b = append(b, tokenVersion, c.kind)
	b = binary.BigEndian.AppendUint64(b, q.hash)
	b = binary.AppendUvarint(b, uint64(c.returned))
	if c.kind == tokScan {
		b = append(b, c.key...)
	} else {
		b = binary.AppendUvarint(b, uint64(c.offset))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxTokenLength is generous for any key the hub allows; longer input is
// refused before decoding.
const maxTokenLength = 4096

func decodeToken(q *Query, s string) (cont, error) {
	bad := errPlain("invalid continuation token: it was not issued by this server")
	if len(s) > maxTokenLength {
		return cont{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 10 || b[0] != tokenVersion {
		return cont{}, bad
	}
	c := cont{kind: b[1]}
	want := byte(tokScan)
	if q.grouped {
		want = tokOffset
	}
	if c.kind != want || binary.BigEndian.Uint64(b[2:10]) != q.hash {
		return cont{}, errPlain("invalid continuation token: it belongs to a different query")
	}
	rest := b[10:]
	n, used := binary.Uvarint(rest)
	if used <= 0 || n > maxInt {
		return cont{}, bad
	}
	c.returned = int(n)
	rest = rest[used:]
	if c.kind == tokScan {
		c.key = string(rest)
		return c, nil
	}
	off, used := binary.Uvarint(rest)
	if used <= 0 || used != len(rest) || off > maxInt {
		return cont{}, bad
	}
	c.offset = int(off)
	return c, nil
}

const maxInt = 1<<31 - 1
