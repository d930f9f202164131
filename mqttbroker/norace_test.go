//go:build !race

package mqttbroker

// raceEnabled: the race detector slows everything down; load tests shrink.
const raceEnabled = false
