package web_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package's promise: it reads Redis only through
// the projection's Reader and knows nothing of the write side.
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/redis/go-redis",
		"github.com/nats-io/",
		"database/sql",
		"github.com/go-sql-driver/",
		"github.com/bwmarrin/discordgo",
		"github.com/thebutton-game/thebutton/commands",
		"github.com/thebutton-game/thebutton/discordbot",
		"github.com/thebutton-game/thebutton/events/natsstore",
		"github.com/thebutton-game/thebutton/projector/mysqlproj",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s", name, path)
				}
			}
			if path == "github.com/thebutton-game/thebutton/projector" {
				t.Errorf("%s imports the projector loop", name)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no file checked")
	}
}
