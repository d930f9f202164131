// Command iothub-emulator runs a local Azure IoT Hub emulator and talks to a
// running one.
//
//	iothub-emulator [serve] [flags]      start the emulator (the default)
//	iothub-emulator device create <id>   create a device and print its connection string
//	iothub-emulator query "SELECT ..."   print every row of a twin query
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	verb := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	var err error
	switch verb {
	case "serve":
		err = serve(ctx, args, stdout, stderr)
	case "device":
		err = device(ctx, args, stdout, stderr)
	case "query":
		err = queryVerb(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "iothub-emulator: unknown command %q\n\n%s", verb, usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "iothub-emulator: %v\n", err)
		return 1
	}
	return 0
}

const usage = `Usage:
  iothub-emulator [serve] [flags]        start the emulator (see: iothub-emulator serve -h)
  iothub-emulator device create <id>     create a device identity and print its connection string
  iothub-emulator query "SELECT ..."     run a twin query and print every row as JSON
  iothub-emulator help                   show this help
`
