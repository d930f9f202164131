package mqttbroker

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// usernameInfo is what a CONNECT username carries besides the identity.
type usernameInfo struct {
	Host       string
	APIVersion string // "" if absent
	ModelID    string // "" if absent
}

var (
	errBadClientID = errors.New(`client id must be "{deviceId}" or "{deviceId}/{moduleId}"`)
	errBadUsername = errors.New(`username must be "{host}/{deviceId}[/{moduleId}]/?{query}"`)
	errIDMismatch  = errors.New("username names a different identity than the client id")
)

// parseClientID splits an MQTT client id into device and module id.
func parseClientID(clientID string) (deviceID, moduleID string, err error) {
	deviceID, moduleID, hasModule := strings.Cut(clientID, "/")
	switch {
	case deviceID == "":
		return "", "", errBadClientID
	case hasModule && (moduleID == "" || strings.Contains(moduleID, "/")):
		return "", "", errBadClientID
	}
	return deviceID, moduleID, nil
}

// parseUsername parses "{host}/{clientId}/?api-version=...&model-id=...".
//
// It also accepts the legacy form without "?" ("{host}/{deviceId}/api-version=2016-11-14"),
// no query at all, and unknown parameters. The ids are matched against the
// client id rather than split out of the username, because IoT Hub ids may
// contain '?' and '=', which make the username ambiguous on its own.
func parseUsername(username, clientID string) (usernameInfo, error) {
	host, rest, ok := strings.Cut(username, "/")
	if !ok || host == "" {
		return usernameInfo{}, errBadUsername
	}
	if clientID == "" || !strings.HasPrefix(rest, clientID) {
		return usernameInfo{}, errIDMismatch
	}
	tail := rest[len(clientID):]

	var query string
	switch {
	case tail == "" || tail == "/":
	case strings.HasPrefix(tail, "/?"):
		query = tail[2:]
	case strings.HasPrefix(tail, "?"):
		query = tail[1:]
	case strings.HasPrefix(tail, "/"):
		// Legacy form: the query follows the ids without a '?'. A segment
		// without '=' is another id (a module the client id does not name).
		first, _, _ := strings.Cut(tail[1:], "/")
		if !strings.Contains(first, "=") {
			return usernameInfo{}, errIDMismatch
		}
		query = tail[1:]
	default:
		return usernameInfo{}, errIDMismatch
	}

	info := usernameInfo{Host: host}
	var seenAPI, seenModel bool
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.PathUnescape(rawKey)
		if err != nil {
			return usernameInfo{}, fmt.Errorf("username query key %q: %w", rawKey, err)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			return usernameInfo{}, fmt.Errorf("username query value of %q: %w", key, err)
		}
		switch {
		case strings.EqualFold(key, "api-version") && !seenAPI:
			info.APIVersion, seenAPI = value, true
		case strings.EqualFold(key, "model-id") && !seenModel:
			info.ModelID, seenModel = value, true
		}
	}
	return info, nil
}
