// Command testreport reads `go test -json` on stdin, prints the output of
// failed tests and packages, lists skipped tests, and ends with the line
// "N passed, N failed, N skipped". It exits 1 if anything failed, or if
// CI=true and any test was skipped: in CI no integration suite may be
// skipped silently.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	out := map[string]*strings.Builder{}
	var passed, failed, skipped []string
	var failedPkgs []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // build errors and the like
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			b := out[key]
			if b == nil {
				b = &strings.Builder{}
				out[key] = b
			}
			b.WriteString(e.Output)
		case "pass":
			if e.Test != "" {
				passed = append(passed, key)
			} else {
				fmt.Printf("ok   %s (%.1fs)\n", e.Package, e.Elapsed)
			}
		case "fail":
			if e.Test != "" {
				failed = append(failed, key)
			} else {
				failedPkgs = append(failedPkgs, e.Package)
			}
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, key)
			}
		}
	}
	for _, k := range failed {
		fmt.Printf("\n--- FAIL: %s\n%s", k, out[k])
	}
	for _, p := range failedPkgs {
		fmt.Printf("\nFAIL package %s\n%s", p, out[p+" "])
	}
	sort.Strings(skipped)
	for _, k := range skipped {
		fmt.Printf("\n--- SKIP: %s\n%s", k, out[k])
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", len(passed), len(failed)+len(failedPkgs), len(skipped))
	if len(failed)+len(failedPkgs) > 0 {
		os.Exit(1)
	}
	if len(skipped) > 0 && os.Getenv("CI") == "true" {
		fmt.Println("CI=true: skipped tests are failures here (an integration suite must not be skipped)")
		os.Exit(1)
	}
}
