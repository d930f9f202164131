package twin

import (
	"encoding/base64"
	"encoding/binary"
	"time"
)

// TimeFormat is how IoT Hub writes twin timestamps (7 fractional digits, UTC).
const TimeFormat = "2006-01-02T15:04:05.0000000Z"

// Twin is one device or module twin document: tags, desired and reported
// properties with their metadata, and the twin's version and ETag counter.
// Identity fields (deviceId, status, connectionState, ...) belong to the
// registry and are added by the hub when it renders the service view.
type Twin struct {
	tags     map[string]any
	desired  section
	reported section
	version  int64
	etag     uint64
}

// section is desired or reported properties: the root object node and the
// section's $version.
type section struct {
	root    *node
	version int64
}

func (s section) clone() section {
	return section{root: s.root.clone(), version: s.version}
}

// rootNode returns the section's root object, creating it for a zero Twin.
func (s *section) rootNode() *node {
	if s.root == nil || s.root.children == nil {
		s.root = emptyObject()
	}
	return s.root
}

// New returns a fresh twin as IoT Hub creates it with its device or module:
// both sections empty at $version 1 with their root $lastUpdated = now, twin
// version 1 and ETag counter 1.
func New(now time.Time) *Twin {
	s := stamp{at: stampTime(now)}
	return &Twin{
		tags:     map[string]any{},
		desired:  section{root: ptr(newObject(s)), version: 1},
		reported: section{root: ptr(newObject(s)), version: 1},
		version:  1,
		etag:     1,
	}
}

// Clone returns a copy; operations on either never affect the other. The
// tags map is shared: nothing modifies one in place (a tag write copies it
// first), and most writes (reported properties, desired properties) leave
// the tags alone.
func (t *Twin) Clone() *Twin {
	return &Twin{
		tags:     t.tags,
		desired:  t.desired.clone(),
		reported: t.reported.clone(),
		version:  t.version,
		etag:     t.etag,
	}
}

// Version is the twin "version": +1 on every accepted write.
func (t *Twin) Version() int64 { return t.version }

// ETag is the twin's ETag without quotes: standard padded base64 of the
// 8-byte big-endian counter, so "AAAAAAAAAAE=" is 1.
func (t *Twin) ETag() string { return formatETag(t.etag) }

// DesiredVersion is properties.desired.$version.
func (t *Twin) DesiredVersion() int64 { return t.desired.version }

// ReportedVersion is properties.reported.$version.
func (t *Twin) ReportedVersion() int64 { return t.reported.version }

// written records one accepted write of any kind.
func (t *Twin) written() {
	t.version++
	t.etag++
}

func formatETag(n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return base64.StdEncoding.EncodeToString(b[:])
}

// parseETag is formatETag's inverse.
func parseETag(s string) (uint64, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

func ptr[T any](v T) *T { return &v }
