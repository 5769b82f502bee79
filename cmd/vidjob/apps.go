package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/queue"
	"github.com/vidjob/vidjob/sqlstore"
)

// AppsCmd groups the application subcommands.
type AppsCmd struct {
	Create AppsCreateCmd `cmd:"" help:"Create an application and print its application_id alone on stdout. Example: vidjob apps create acme --data ./data"`
	List   AppsListCmd   `cmd:"" help:"List applications. Example: vidjob apps list --data ./data"`
}

// AppsCreateCmd creates an application.
type AppsCreateCmd struct {
	DatabaseFlags
	Name string `arg:"" help:"A name for the application, for people."`
}

// Run creates the application.
func (c *AppsCreateCmd) Run(ctx context.Context, logger *slog.Logger) error {
	db, err := openDatabase(ctx, c.DatabaseFlags)
	if err != nil {
		return err
	}
	defer db.Close()
	app := &vidjob.Application{ID: queue.NewApplicationID(), Name: c.Name}
	if err := db.CreateApplication(ctx, app); err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, app.ID)
	return nil
}

// openDatabase opens the database and applies vidjob's and River's migrations.
func openDatabase(ctx context.Context, f DatabaseFlags) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, f.Database, f.Data)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := queue.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// AppsListCmd lists applications.
type AppsListCmd struct {
	DatabaseFlags
}

// Run prints a table of applications.
func (c *AppsListCmd) Run(ctx context.Context, logger *slog.Logger) error {
	db, err := openDatabase(ctx, c.DatabaseFlags)
	if err != nil {
		return err
	}
	defer db.Close()
	apps, err := db.ListApplications(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPLICATION ID\tNAME\tCREATED (UTC)")
	for _, a := range apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, a.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}
