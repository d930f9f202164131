// Package guid makes random (version 4) GUIDs, the form IoT Hub uses for
// message ids, lock tokens and job ids.
package guid

import (
	"crypto/rand"
	"fmt"
)

// Bytes returns a new random version 4 GUID.
func Bytes() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// New returns a new random GUID in its text form.
func New() string {
	b := Bytes()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
