package hub

import "strings"

// etagMatches implements If-Match as the SDKs send it. An absent condition
// ("") and the wildcard (* or "*") match anything. Otherwise the value is an
// entity tag, quoted or bare, with an optional weak prefix: W/"x", "x" or x.
// An empty tag (""), stray quote characters or a lone W/ match nothing, so a
// malformed condition can never pass as a wildcard.
func etagMatches(ifMatch, current string) bool {
	v := strings.TrimSpace(ifMatch)
	if v == "" || v == "*" || v == `"*"` {
		return true
	}
	tag, ok := parseETag(v)
	return ok && tag == current
}

// parseETag returns the opaque tag of an If-Match value that is not the
// wildcard, and whether the value is well formed.
func parseETag(v string) (string, bool) {
	v = strings.TrimPrefix(v, "W/")
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", false
		}
		v = v[1 : len(v)-1]
	}
	if v == "" || v == "*" || strings.ContainsAny(v, "\", \t") {
		return "", false
	}
	return v, true
}

// hasIfMatch reports whether the header names a condition at all (even "*").
func hasIfMatch(ifMatch string) bool { return strings.TrimSpace(ifMatch) != "" }
