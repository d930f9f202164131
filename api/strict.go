package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// KnownAPIVersions are the data-plane api-versions IoT Hub has published;
// strict mode refuses any other, as the hub does.
var knownAPIVersions = []string{
	"2016-02-03", "2016-11-14", "2017-06-30", "2017-11-08-preview", "2018-01-26",
	"2018-04-01", "2018-06-30", "2018-08-30-preview", "2018-12-01-preview", "2019-03-30",
	"2019-07-01-preview", "2019-10-01", "2020-03-13", "2020-05-31-preview", "2020-06-30",
	"2020-06-30-preview", "2020-09-30", "2021-04-12",
}

// KnownAPIVersion reports whether v is an api-version IoT Hub accepts.
func KnownAPIVersion(v string) bool { return slices.Contains(knownAPIVersions, v) }

// strictAPIVersion refuses IoT Hub routes whose api-version the real hub
// would refuse; the emulator's own routes (/emulator, /healthz) are exempt.
func (s *server) strictAPIVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/emulator/") || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		v := r.URL.Query().Get("api-version")
		if v == "" {
			s.fail(w, r, errcode.New(errcode.InvalidProtocolVersion, "The api-version query parameter is required."))
			return
		}
		known := KnownAPIVersion
		if s.isProvisioningPath(r.URL.EscapedPath()) {
			known = KnownProvisioningAPIVersion
		}
		if !known(v) {
			s.fail(w, r, errcode.New(errcode.InvalidProtocolVersion, "The api-version %q is not supported.", v))
			return
		}
		next.ServeHTTP(w, r)
	})
}
