package amqphub

import (
	"net/url"
	"strings"
)

// linkPath is an address as a path: a full URL (amqps://host[:port]/path)
// loses its scheme and host, a path gets its leading '/', and a trailing
// '/' goes. Segments stay as sent (escaped).
func linkPath(addr string) string {
	p := addr
	if i := strings.Index(p, "://"); i >= 0 {
		if u, err := url.Parse(addr); err == nil {
			p = u.EscapedPath()
		} else {
			p = p[i+3:]
			if j := strings.IndexByte(p, '/'); j >= 0 {
				p = p[j:]
			} else {
				p = ""
			}
		}
	}
	p = strings.TrimSuffix(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// The IoT Hub service endpoints, lowercased for matching: the SDKs spell
// them in varying case (serviceBound in Node, servicebound in the az CLI).
const (
	pathDevicebound       = "/messages/devicebound"
	pathFeedback          = "/messages/servicebound/feedback"
	pathFileNotifications = "/messages/servicebound/filenotifications"
	pathEvents            = "/messages/events"
	pathCBS               = "/$cbs"
)

// isDevicePath reports a device-side AMQP address (/devices/{id}/...).
func isDevicePath(lower string) bool { return strings.HasPrefix(lower, "/devices/") }

// isEventsPath reports IoT Hub's built-in events endpoint and what lies
// under it (messages/events/$management, .../ConsumerGroups/...).
func isEventsPath(lower string) bool {
	return lower == pathEvents || strings.HasPrefix(lower, pathEvents+"/")
}
