package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// IoT Hub's bounds on a direct method's timeouts, in seconds.
const (
	minMethodTimeout        = 5
	maxMethodTimeout        = 300
	maxMethodConnectTimeout = 300
)

// invokeMethod calls a direct method on a device or module and prints
// {"status": ..., "payload": ...}.
func invokeMethod(n noun) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := "invoke-" + n.String() + "-method"
		f := newCLIFlags(name, n.synopsis("--method-name NAME"), "Call a direct method and print the device's answer.", stdout)
		deviceID, moduleID := n.ids(f, "the device", "the module")
		method := f.RequiredString("method-name,mn", "NAME", "the method")
		payload := f.String("method-payload,mp", "{}", "JSON", "the method's payload, as JSON or a file holding it")
		timeout := f.Int("timeout,to", 30, "SECONDS", "how long the device has to answer (5 to 300)")
		connect := f.Int("method-connect-timeout,mct", -1, "SECONDS",
			"how long to wait for the device to come online (0 to 300; default: --timeout, as az does)")
		conn := addConnFlags(f)
		c, err := parseNoArgs(f, conn, args)
		if err != nil {
			return err
		}
		if *timeout < minMethodTimeout || *timeout > maxMethodTimeout {
			return usagef(name, "--timeout must be from %d to %d seconds", minMethodTimeout, maxMethodTimeout)
		}
		if !f.Given("method-connect-timeout") {
			*connect = *timeout
		}
		if *connect < 0 || *connect > maxMethodConnectTimeout {
			return usagef(name, "--method-connect-timeout must be from 0 to %d seconds", maxMethodConnectTimeout)
		}
		p, err := jsonArg(name, "--method-payload", *payload, false)
		if err != nil {
			return err
		}
		body, err := json.Marshal(map[string]any{
			"methodName":               *method,
			"payload":                  p,
			"responseTimeoutInSeconds": *timeout,
			"connectTimeoutInSeconds":  *connect,
		})
		if err != nil {
			return err
		}
		raw, _, err := c.call(ctx, request{
			method:  http.MethodPost,
			path:    devicePath("/twins", *deviceID, *moduleID) + "/methods",
			body:    body,
			timeout: time.Duration(*timeout+*connect)*time.Second + defaultRequestTimeout,
		})
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}
