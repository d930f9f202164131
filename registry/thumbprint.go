package registry

import "strings"

// NormalizeThumbprint puts a certificate thumbprint in one spelling for
// comparison: IoT Hub takes hex in either case, and tools print it with
// colons or spaces between the bytes.
func NormalizeThumbprint(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
}

// MatchesThumbprint reports whether one of the registered thumbprints (nil
// or empty ones never match) equals one of the presented ones.
func (t X509Thumbprint) MatchesThumbprint(presented ...string) bool {
	for _, reg := range []*string{t.PrimaryThumbprint, t.SecondaryThumbprint} {
		if reg == nil || NormalizeThumbprint(*reg) == "" {
			continue
		}
		for _, p := range presented {
			if NormalizeThumbprint(*reg) == NormalizeThumbprint(p) {
				return true
			}
		}
	}
	return false
}
