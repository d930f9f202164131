package main

import (
	"context"
	"io"
)

// verb is what runs a command.
type verb = func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// noun is what a verb acts on: a device, or a module of a device. A device
// verb and its module twin are one function of the noun, which names the
// command, its synopsis and its id flags.
type noun struct{ module bool }

var (
	deviceNoun = noun{}
	moduleNoun = noun{module: true}
)

// String is "device" or "module".
func (n noun) String() string { return n.pick("device", "module") }

// pick returns the text for the noun: forDevice or forModule.
func (n noun) pick(forDevice, forModule string) string {
	if n.module {
		return forModule
	}
	return forDevice
}

// command names the noun's verb of a group: "device-identity show".
func (n noun) command(group, verb string) string { return n.String() + "-" + group + " " + verb }

// synopsis is the usage line after the command: the id flags, then rest.
func (n noun) synopsis(rest string) string {
	s := n.pick("-d DEVICE", "-d DEVICE -m MODULE")
	if rest != "" {
		s += " " + rest
	}
	return s
}

// ids adds the required -d and, for a module, -m, described by deviceHelp
// and moduleHelp; a device's module id stays "".
func (n noun) ids(f *cliFlags, deviceHelp, moduleHelp string) (deviceID, moduleID *string) {
	deviceID = f.RequiredString("device-id,d", "DEVICE", deviceHelp)
	moduleID = new(string)
	if n.module {
		moduleID = f.RequiredString("module-id,m", "MODULE", moduleHelp)
	}
	return deviceID, moduleID
}
