package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/iothub-emulator/iothub-emulator/registry"
)

// deviceCreate is the README's first command: create a device and print
// the connection string its SDK needs, as one line. It takes the flags of
// device-identity create, with the id as an argument.
func deviceCreate(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "device create"
	f := newCLIFlags(name, "<id>", "Create a device identity and print its connection string.", stdout)
	opts := addCreateFlags(f, deviceNoun)
	conn := addConnFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		return usagef(name, "give the device id: iothub-emulator device create <id>")
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	raw, err := opts.create(ctx, name, c, pos[0], "")
	if err != nil {
		return err
	}
	var d registry.Device
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("the emulator answered with a device that cannot be read: %w", err)
	}
	cs, err := identityConnectionString(c.hub.HostName, d.DeviceID, "", d.Authentication, "primary")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, cs)
	return err
}
