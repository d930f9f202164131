// Command iothub-emulator runs a local Azure IoT Hub emulator and talks to a
// running one with the verbs of Azure CLI's "az iot hub":
//
//	iothub-emulator [serve] [flags]             start the emulator (the default)
//	iothub-emulator device-identity create -d ID
//	iothub-emulator query -q "SELECT ..."
//	iothub-emulator monitor-events [-d ID] [-p all]
//	iothub-emulator help                        list every command
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

// command is one verb: the words that name it and what runs it.
type command struct {
	path    string // "device-identity create"
	summary string
	run     verb
}

// commands lists every verb, in the order help shows them.
func commands() []command {
	return []command{
		{"serve", "start the emulator (the default command)", serve},

		{"device-identity create", "create a device identity", identityCreate(deviceNoun)},
		{"device-identity list", "list device twins (as az does)", deviceIdentityList},
		{"device-identity show", "show a device identity", identityShow(deviceNoun)},
		{"device-identity delete", "delete a device identity", identityDelete(deviceNoun)},
		{"device-identity connection-string show", "print a device's connection string", connectionStringShow(deviceNoun)},
		{"device-identity export", "export every identity and twin to a blob container (an import/export job)", identityExport},
		{"device-identity import", "import identities from a blob container (an import/export job)", identityImport},
		{"module-identity create", "create a module identity", identityCreate(moduleNoun)},
		{"module-identity list", "list a device's module identities", moduleIdentityList},
		{"module-identity show", "show a module identity", identityShow(moduleNoun)},
		{"module-identity delete", "delete a module identity", identityDelete(moduleNoun)},
		{"module-identity connection-string show", "print a module's connection string", connectionStringShow(moduleNoun)},

		{"device-twin show", "show a device twin", twinShow(deviceNoun)},
		{"device-twin list", "list device twins", deviceTwinList},
		{"device-twin update", "merge desired properties and tags into a device twin", twinUpdate(deviceNoun)},
		{"device-twin replace", "replace a device twin's desired properties and tags", twinReplace(deviceNoun)},
		{"module-twin show", "show a module twin", twinShow(moduleNoun)},
		{"module-twin update", "merge desired properties and tags into a module twin", twinUpdate(moduleNoun)},
		{"module-twin replace", "replace a module twin's desired properties and tags", twinReplace(moduleNoun)},

		{"query", "run a twin query and print every row", queryVerb},
		{"invoke-device-method", "call a direct method on a device", invokeMethod(deviceNoun)},
		{"invoke-module-method", "call a direct method on a module", invokeMethod(moduleNoun)},

		{"job create", "schedule a twin update or direct method on the devices a query selects", jobCreate},
		{"job show", "show a job", jobShow},
		{"job list", "list jobs", jobList},
		{"job cancel", "cancel a job", jobCancel},
		{"configuration create", "create an automatic device management configuration", configurationCreate},
		{"configuration show", "show a configuration and its metrics", configurationShow},
		{"configuration list", "list configurations", configurationList},
		{"configuration delete", "delete a configuration", configurationDelete},
		{"edge set-modules", "apply an IoT Edge deployment to one IoT Edge device", edgeSetModules},
		{"storage sas", "print a SAS URI of a container of the built-in blob endpoint", storageSAS},

		{"monitor-events", "print device-to-cloud messages as they arrive, one JSON document per line", monitorEvents},
		{"c2d-message send", "send a cloud-to-device message", c2dSend("c2d-message send")},
		{"c2d-message purge", "delete every pending cloud-to-device message of a device", c2dPurge("c2d-message purge")},
		{"c2d send", "same as c2d-message send", c2dSend("c2d send")},
		{"c2d purge", "same as c2d-message purge", c2dPurge("c2d purge")},

		{"export", "write the hub's devices, modules and twins as a seed document", exportVerb},
		{"import", "apply a seed document to the hub", importVerb},

		{"device create", "create a device and print its connection string", deviceCreate},

		{"dps enrollment create", "create an individual enrollment in the provisioning service", enrollmentCreate(individualEnrollment)},
		{"dps enrollment show", "show an individual enrollment", enrollmentShow(individualEnrollment)},
		{"dps enrollment list", "list the individual enrollments", enrollmentList(individualEnrollment)},
		{"dps enrollment update", "change an individual enrollment", enrollmentUpdate(individualEnrollment)},
		{"dps enrollment delete", "delete an individual enrollment", enrollmentDelete(individualEnrollment)},
		{"dps enrollment-group create", "create an enrollment group", enrollmentCreate(enrollmentGroup)},
		{"dps enrollment-group show", "show an enrollment group", enrollmentShow(enrollmentGroup)},
		{"dps enrollment-group list", "list the enrollment groups", enrollmentList(enrollmentGroup)},
		{"dps enrollment-group update", "change an enrollment group", enrollmentUpdate(enrollmentGroup)},
		{"dps enrollment-group delete", "delete an enrollment group", enrollmentDelete(enrollmentGroup)},
		{"dps enrollment-group compute-device-key", "derive a group device's symmetric key (offline)", computeDeviceKey},
		{"dps registration show", "show a device's registration state", registrationShow},
		{"dps registration list", "list the registration states of an enrollment group's devices", registrationList},
		{"dps registration delete", "delete a device's registration state", registrationDelete},
		{"dps connection-string show", "print the provisioning service's connection string and ID scope", dpsConnectionStringShow},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"serve"}, args...)
	}
	if args[0] == "help" {
		return help(ctx, cmds, args[1:], stdout, stderr)
	}
	cmd, rest, ok := lookup(cmds, args)
	if !ok {
		return unknown(cmds, args, stderr)
	}
	return report(cmd.run(ctx, rest, stdout, stderr), stderr)
}

// report turns a command's error into its exit status: 0, 1 for a failure,
// 2 for a mistake on the command line. Every message is one line.
func report(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "iothub-emulator %s: %s\n", ue.command, oneLine(ue.Error()))
		return 2
	case errors.Is(err, errUsage):
		return 2 // the command already said why
	default:
		fmt.Fprintf(stderr, "iothub-emulator: %s\n", oneLine(err.Error()))
		return 1
	}
}

// lookup finds the command named by the longest run of leading words.
func lookup(cmds []command, args []string) (command, []string, bool) {
	var best command
	bestLen := 0
	for _, c := range cmds {
		words := strings.Fields(c.path)
		if len(words) > bestLen && len(words) <= len(args) && slices.Equal(words, args[:len(words)]) {
			best, bestLen = c, len(words)
		}
	}
	return best, args[bestLen:], bestLen > 0
}

// unknown explains a command line that names no command: a group without
// its subcommand gets the list of its subcommands.
func unknown(cmds []command, args []string, stderr io.Writer) int {
	var subs []string
	for _, c := range cmds {
		if strings.HasPrefix(c.path, args[0]+" ") {
			subs = append(subs, strings.TrimPrefix(c.path, args[0]+" "))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(stderr, "iothub-emulator %s: choose one of: %s (see: iothub-emulator help)\n", args[0], strings.Join(subs, ", "))
		return 2
	}
	fmt.Fprintf(stderr, "iothub-emulator: unknown command %q (see: iothub-emulator help)\n", args[0])
	return 2
}

// help lists every command, or shows one command's flags.
func help(ctx context.Context, cmds []command, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		cmd, rest, ok := lookup(cmds, args)
		if !ok || len(rest) > 0 {
			return unknown(cmds, args, stderr)
		}
		err := cmd.run(ctx, []string{"-h"}, stdout, stderr)
		var ue *usageError
		if errors.Is(err, errUsage) && !errors.As(err, &ue) {
			return 0 // serve's flag set printed its help and reports it as a usage error
		}
		return report(err, stderr)
	}
	fmt.Fprint(stdout, "Usage: iothub-emulator <command> [flags]\n\nCommands:\n")
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.path))
	}
	for _, c := range cmds {
		fmt.Fprintf(stdout, "  %-*s  %s\n", width, c.path, c.summary)
	}
	fmt.Fprint(stdout, helpFooter)
	return 0
}

const helpFooter = `
Every command but serve talks to a running emulator:
  --endpoint URL                  its REST endpoint (default http://127.0.0.1:8080; https:// with --ca FILE)
  --hub, --login, -l CONNECTION_STRING
                                  a service connection string (default: the well-known local hub's)
Results are printed as JSON. Errors are one line on stderr with exit status 1;
command-line mistakes exit with status 2.

Run 'iothub-emulator <command> -h' for a command's flags.
`
