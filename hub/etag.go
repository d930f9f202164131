package hub

import "strings"

// etagMatches implements If-Match as the SDKs send it: absent, * and "*"
// match anything; otherwise quotes and a weak prefix are stripped and the
// value compared.
func etagMatches(ifMatch, current string) bool {
	v := strings.TrimSpace(ifMatch)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	return v == "" || v == "*" || v == current
}

// hasIfMatch reports whether the header names a condition at all (even "*").
func hasIfMatch(ifMatch string) bool { return strings.TrimSpace(ifMatch) != "" }
