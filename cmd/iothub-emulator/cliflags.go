package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// errHelpShown ends a command whose help was asked for (-h) and printed.
var errHelpShown = errors.New("help shown")

// usageError is a mistake on the command line: it exits with status 2.
type usageError struct {
	command string
	msg     string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s (see: iothub-emulator %s -h)", e.msg, e.command)
}

func (e *usageError) Unwrap() error { return errUsage }

func usagef(command, format string, args ...any) error {
	return &usageError{command: command, msg: fmt.Sprintf(format, args...)}
}

// cliFlags is a flag set in the style of Azure CLI: an option has a long
// name and aliases (--device-id and -d), flags may come before or after
// positional arguments, and the help lists each option once.
type cliFlags struct {
	fs       *flag.FlagSet
	command  string // "device-identity create"
	synopsis string // what follows the command in the usage line
	summary  string
	opts     []*cliOption
	stdout   io.Writer // where -h prints
}

type cliOption struct {
	names    []string // long name first
	metavar  string   // "" for a switch
	usage    string
	group    string // "" for the command's own flags
	required *string
}

func newCLIFlags(command, synopsis, summary string, stdout io.Writer) *cliFlags {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by parse, help by printHelp
	fs.Usage = func() {}
	return &cliFlags{fs: fs, command: command, synopsis: synopsis, summary: summary, stdout: stdout}
}

// register adds one option under every name in the comma-separated names.
func (f *cliFlags) register(v flag.Value, names, metavar, usage string) *cliOption {
	o := &cliOption{names: strings.Split(names, ","), metavar: metavar, usage: usage}
	for _, n := range o.names {
		f.fs.Var(v, n, usage)
	}
	f.opts = append(f.opts, o)
	return o
}

func (f *cliFlags) String(names, def, metavar, usage string) *string {
	p := new(string)
	*p = def
	f.register((*stringValue)(p), names, metavar, usage)
	return p
}

// RequiredString is a string option that must be given a non-empty value.
func (f *cliFlags) RequiredString(names, metavar, usage string) *string {
	p := new(string)
	o := f.register((*stringValue)(p), names, metavar, usage+" (required)")
	o.required = p
	return p
}

func (f *cliFlags) Int(names string, def int, metavar, usage string) *int {
	p := new(int)
	*p = def
	f.register((*intValue)(p), names, metavar, usage)
	return p
}

func (f *cliFlags) Int64(names string, def int64, metavar, usage string) *int64 {
	p := new(int64)
	*p = def
	f.register((*int64Value)(p), names, metavar, usage)
	return p
}

func (f *cliFlags) Bool(names, usage string) *bool {
	p := new(bool)
	f.register((*boolValue)(p), names, "", usage)
	return p
}

// Given reports whether the option named by its long name was on the command line.
func (f *cliFlags) Given(long string) bool {
	var o *cliOption
	for _, c := range f.opts {
		if c.names[0] == long {
			o = c
		}
	}
	given := false
	f.fs.Visit(func(fl *flag.Flag) {
		if o != nil && slices.Contains(o.names, fl.Name) {
			given = true
		}
	})
	return given
}

// parse reads the flags wherever they are among args and returns the
// positional arguments. "--" ends the flags.
func (f *cliFlags) parse(args []string) ([]string, error) {
	var positional []string
	for {
		err := f.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp(f.stdout)
			return nil, errHelpShown
		}
		if err != nil {
			return nil, usagef(f.command, "%s", err)
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	for _, o := range f.opts {
		if o.required != nil && *o.required == "" {
			return nil, usagef(f.command, "%s is required", o.display())
		}
	}
	return positional, nil
}

// display names an option as the user may type it: "--device-id (-d)".
func (o *cliOption) display() string {
	s := dashed(o.names[0])
	if len(o.names) > 1 {
		alts := make([]string, 0, len(o.names)-1)
		for _, n := range o.names[1:] {
			alts = append(alts, dashed(n))
		}
		s += " (" + strings.Join(alts, ", ") + ")"
	}
	return s
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func (f *cliFlags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: iothub-emulator %s", f.command)
	if f.synopsis != "" {
		fmt.Fprint(w, " "+f.synopsis)
	}
	fmt.Fprint(w, " [flags]\n\n")
	if f.summary != "" {
		fmt.Fprintln(w, f.summary)
		fmt.Fprintln(w)
	}
	// One tabwriter for every group, so their columns line up; the tab in
	// the title and blank lines keeps them inside the column block.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	for _, group := range []string{"", connGroup} {
		title := "Flags:"
		if group != "" {
			title = group + ":"
		}
		header := false
		for _, o := range f.opts {
			if o.group != group {
				continue
			}
			if !header {
				fmt.Fprintf(tw, "%s\t\n", title)
				header = true
			}
			names := make([]string, len(o.names))
			for i, n := range o.names {
				names[i] = dashed(n)
			}
			spec := strings.Join(names, ", ")
			if o.metavar != "" {
				spec += " " + o.metavar
			}
			fmt.Fprintf(tw, "  %s\t%s\n", spec, o.usage)
		}
		if header {
			fmt.Fprint(tw, "\t\n")
		}
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// Value types shared by every alias of an option.

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string {
	if v == nil {
		return ""
	}
	return string(*v)
}

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(n)
	return nil
}

func (v *intValue) String() string {
	if v == nil {
		return "0"
	}
	return strconv.Itoa(int(*v))
}

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = int64Value(n)
	return nil
}

func (v *int64Value) String() string {
	if v == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v), 10)
}

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v = boolValue(b)
	return nil
}

func (v *boolValue) String() string {
	if v == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*v))
}

func (v *boolValue) IsBoolFlag() bool { return true }

// oneOf checks an enumerated option's value, case-insensitively as Azure CLI
// does, and returns it in the listed spelling.
func oneOf(command, option, value string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(value, a) {
			return a, nil
		}
	}
	return "", usagef(command, "%s must be one of %s, not %q", option, strings.Join(allowed, ", "), value)
}
