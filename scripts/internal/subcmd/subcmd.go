// Package subcmd is the command line of the scripts' tools that do several
// things (`bench setup|prepare|flash`, `benchconsole seed|scan|pages`): the
// first argument names the step, the rest are its flags.
package subcmd

import (
	"fmt"
	"os"
	"strings"
)

// Cmd is one step of a tool.
type Cmd struct {
	Name string
	Run  func(args []string) error
}

// Main runs the step os.Args[1] names with the arguments after it. It exits 2
// with the usage when no step is named, 1 when the step fails or is unknown
// (the scripts calling these tools stop on either).
func Main(prog string, cmds ...Cmd) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s %s [flags]\n", prog, strings.Join(names, "|"))
		os.Exit(2)
	}
	err := fmt.Errorf("unknown command %q", os.Args[1])
	for _, c := range cmds {
		if c.Name == os.Args[1] {
			err = c.Run(os.Args[2:])
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		os.Exit(1)
	}
}
