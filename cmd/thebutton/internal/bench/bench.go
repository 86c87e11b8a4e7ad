package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// benchmarks maps `thebutton bench <name>` to its runner. Files of this
// package add to it in init.
var benchmarks = map[string]func(ctx context.Context, a *app, args []string) error{
	"clicks": runBenchClicks,
}

func runBench(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(a.stderr, "Usage: thebutton bench clicks|projector|replay|start|discord|interactions [flags]  (bench <name> -h for flags)")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	run, ok := benchmarks[args[0]]
	if !ok {
		fmt.Fprintf(a.stderr, "thebutton bench: unknown benchmark %q (clicks, projector, replay, start, discord, interactions)\n", args[0])
		return errUsage
	}
	return run(ctx, a, args[1:])
}

// printJSON writes v as one indented JSON object.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
