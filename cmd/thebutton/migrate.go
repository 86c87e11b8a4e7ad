package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/schema"
)

// runMigrate creates MYSQL_DSN's database if it is missing and applies
// the schema migrations it has not applied yet. `thebutton run` does the
// same at start; this is for operators who migrate before a deploy.
func runMigrate(ctx context.Context, a *app, args []string) error {
	var c config
	fs := newFlagSet(a, "migrate", "migrate [flags]")
	c.registerSinks(fs)
	c.registerLog(fs)
	if err := parseFlags(a, fs, args, c.check); err != nil {
		return err
	}
	log := c.logger(a)
	db, err := mysqlproj.Connect(ctx, string(c.mysqlDSN), log.With("component", "mysql"))
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := schema.Migrate(ctx, db)
	if len(applied) > 0 {
		fmt.Fprintf(a.stdout, "applied %s\n", strings.Join(applied, ", "))
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(a.stdout, "schema up to date")
	}
	return nil
}
