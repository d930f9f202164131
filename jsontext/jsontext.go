// Package jsontext checks that JSON text carries only valid Unicode.
//
// encoding/json silently turns invalid UTF-8 and unpaired surrogate escapes
// into U+FFFD, so a body decoded without this check is stored changed.
// IoT Hub refuses such bodies; the emulator refuses them before decoding.
package jsontext

import (
	"fmt"
	"unicode/utf8"
)

// Check reports the first place where b is not valid UTF-8 or where a string
// holds a \u escape of an unpaired UTF-16 surrogate. It does not check the
// rest of the JSON grammar; the decoder does that.
func Check(b []byte) error {
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
			i += n
		}
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4(b, i+2)
				if ok && isSurrogate(r) {
					if err := checkPair(b, i, r); err != nil {
						return err
					}
					i += 6 // the low half; the loop's i++ and the +5 below skip the high half
				}
				i += 5
				continue
			}
			i++ // the escaped character
		}
	}
	return nil
}

// checkPair requires the high surrogate escape at b[i:] to be followed at
// once by a low surrogate escape.
func checkPair(b []byte, i int, high rune) error {
	if high >= 0xDC00 {
		return fmt.Errorf("unpaired UTF-16 surrogate \\u%04X at byte %d", high, i)
	}
	if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
		if low, ok := hex4(b, i+8); ok && low >= 0xDC00 && low <= 0xDFFF {
			return nil
		}
	}
	return fmt.Errorf("unpaired UTF-16 surrogate \\u%04X at byte %d", high, i)
}

func isSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
