package faults

import (
	"fmt"
	"strings"
)

// Operation is a class of operations IoT Hub throttles as one, after the
// hub's throttle table. The value is the name used in the admin API.
type Operation string

// The throttled operation classes. Device streams and job per-device
// operations are absent: the emulator does not serve them.
const (
	RegistryOperations Operation = "registryOperations" // identity registry create, read, update, delete
	DeviceConnections  Operation = "deviceConnections"  // new device (and module) connections
	D2CSends           Operation = "d2cSends"           // device-to-cloud messages
	Queries            Operation = "queries"            // twin queries
	C2DSends           Operation = "c2dSends"           // cloud-to-device sends
	DirectMethods      Operation = "directMethods"      // direct method invocations
	TwinReads          Operation = "twinReads"          // twin reads, service and device side
	TwinUpdates        Operation = "twinUpdates"        // twin updates, service and device side
	JobsOperations     Operation = "jobsOperations"     // job create, update, list, delete
	Configurations     Operation = "configurations"     // automatic device management
	C2DReceives        Operation = "c2dReceives"        // cloud-to-device receives over HTTPS
	FileUploads        Operation = "fileUploads"        // file upload initiations
)

// Operations lists every operation class.
func Operations() []Operation {
	return []Operation{
		RegistryOperations, DeviceConnections, D2CSends, Queries, C2DSends,
		DirectMethods, TwinReads, TwinUpdates, JobsOperations, Configurations,
		C2DReceives, FileUploads,
	}
}

// ParseOperation returns the operation class named s, ignoring case.
func ParseOperation(s string) (Operation, error) {
	for _, op := range Operations() {
		if strings.EqualFold(s, string(op)) {
			return op, nil
		}
	}
	return "", fmt.Errorf("unknown operation %q (one of %s)", s, joinOps(Operations()))
}

func joinOps(ops []Operation) string {
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}
