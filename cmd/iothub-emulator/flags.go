package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/emulator"
)

// envPrefix names the environment variables that set flags:
// --mqtts-port is IOTHUB_EMULATOR_MQTTS_PORT.
const envPrefix = "IOTHUB_EMULATOR_"

// applyEnv sets every flag not given on the command line from its
// environment variable, so the command line always wins.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// portFlag is a port number, 0 for a free one, or "off".
type portFlag struct{ p *int }

func (f portFlag) String() string {
	if f.p == nil {
		return ""
	}
	if *f.p == emulator.Off {
		return "off"
	}
	return strconv.Itoa(*f.p)
}

func (f portFlag) Set(s string) error {
	n, err := emulator.ParsePort(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

// listFlag collects repeated or comma-separated values.
type listFlag struct{ v *[]string }

func (f listFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strings.Join(*f.v, ",")
}

func (f listFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*f.v = append(*f.v, part)
		}
	}
	return nil
}

// keysFlag collects name=key pairs.
type keysFlag struct{ m *map[string]string }

func (f keysFlag) String() string {
	if f.m == nil {
		return ""
	}
	var parts []string
	for k := range *f.m {
		parts = append(parts, k+"=…")
	}
	return strings.Join(parts, ",")
}

func (f keysFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, key, ok := strings.Cut(part, "=")
		if !ok || name == "" || key == "" {
			return fmt.Errorf("%q is not policy=base64key", part)
		}
		if *f.m == nil {
			*f.m = map[string]string{}
		}
		(*f.m)[name] = key
	}
	return nil
}
