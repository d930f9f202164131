package hub

import "github.com/iothub-emulator/iothub-emulator/metrics"

// hubMetrics are the hub's operation counters.
type hubMetrics struct {
	twinOps     *metrics.CounterVec
	registryOps *metrics.CounterVec
	queries     *metrics.Histogram
	d2cMessages *metrics.CounterVec
	methodCalls *metrics.CounterVec
	queryErrors *metrics.CounterVec
}

func newHubMetrics(r *metrics.Registry) hubMetrics {
	return hubMetrics{
		twinOps:     r.CounterVec("iothub_twin_operations_total", "Accepted twin operations by kind.", "operation"),
		registryOps: r.CounterVec("iothub_registry_operations_total", "Accepted identity registry writes by kind.", "operation"),
		queries:     r.Histogram("iothub_query_duration_seconds", "Time to answer one page of a twin query.", []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1}),
		queryErrors: r.Counter("iothub_query_errors_total", "Queries refused as invalid."),
		d2cMessages: r.Counter("iothub_d2c_messages_total", "Device-to-cloud messages logged."),
		methodCalls: r.CounterVec("iothub_direct_methods_total", "Direct method calls by outcome (the device's status, or the hub's error).", "outcome"),
	}
}
