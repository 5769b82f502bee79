package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/queue"
	"github.com/vidjob/vidjob/sqlstore"
)

// AppsCmd groups the application subcommands.
type AppsCmd struct {
	Create         AppsCreateCmd         `cmd:"" help:"Create an application and print its application_id alone on stdout (its postback signing secret goes to stderr). Example: vidjob apps create acme --data ./data"`
	Show           AppsShowCmd           `cmd:"" help:"Print an application's name, state and allowed buckets."`
	Secret         AppsSecretCmd         `cmd:"" help:"Print an application's postback signing secret alone on stdout."`
	RotateSecret   AppsRotateSecretCmd   `cmd:"" name:"rotate-secret" help:"Give an application a new postback signing secret and print it alone on stdout; the old one stops working at once."`
	AllowBucket    AppsAllowBucketCmd    `cmd:"" name:"allow-bucket" help:"Add a destination bucket the application may write to. An application with no allowed buckets may write to any."`
	DisallowBucket AppsDisallowBucketCmd `cmd:"" name:"disallow-bucket" help:"Remove a destination bucket from the application's list."`
	Disable        AppsDisableCmd        `cmd:"" help:"Refuse the application's submissions (HTTP 403); its queued jobs fail with a postback instead of running."`
	Enable         AppsEnableCmd         `cmd:"" help:"Undo disable."`
	List           AppsListCmd           `cmd:"" help:"List applications. Example: vidjob apps list --data ./data"`
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
	// stdout carries the ID alone, for scripts; the secret is for people.
	fmt.Fprintln(os.Stdout, app.ID)
	fmt.Fprintln(os.Stderr, "postback signing secret:", app.Secret)
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

// AppIDArg names the application a subcommand works on.
type AppIDArg struct {
	DatabaseFlags
	ID string `arg:"" name:"application-id" help:"The application's ID."`
}

// withDB opens the database for one subcommand.
func (a *AppIDArg) withDB(ctx context.Context, f func(db *sqlstore.DB) error) error {
	db, err := openDatabase(ctx, a.DatabaseFlags)
	if err != nil {
		return err
	}
	defer db.Close()
	return appError(f(db))
}

// appError turns an application error into its client sentence, which is what
// an operator at a terminal wants.
func appError(err error) error {
	if err == nil {
		return nil
	}
	if c := vidjob.ErrorCode(err); c != vidjob.EINTERNAL {
		return fmt.Errorf("%s", vidjob.ErrorMessage(err))
	}
	return err
}

// AppsShowCmd prints an application.
type AppsShowCmd struct{ AppIDArg }

// Run prints the application.
func (c *AppsShowCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error {
		app, err := db.FindApplication(ctx, c.ID)
		if err != nil {
			return err
		}
		buckets := "any"
		if len(app.Buckets) > 0 {
			buckets = strings.Join(app.Buckets, ",")
		}
		state := "enabled"
		if app.Disabled {
			state = "disabled"
		}
		fmt.Printf("id: %s\nname: %s\ncreated: %s\nstate: %s\nbuckets: %s\n", app.ID, app.Name, app.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), state, buckets)
		return nil
	})
}

// AppsSecretCmd prints an application's signing secret.
type AppsSecretCmd struct{ AppIDArg }

// Run prints the secret.
func (c *AppsSecretCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error {
		app, err := db.FindApplication(ctx, c.ID)
		if err != nil {
			return err
		}
		fmt.Println(app.Secret)
		return nil
	})
}

// AppsRotateSecretCmd replaces an application's signing secret.
type AppsRotateSecretCmd struct{ AppIDArg }

// Run rotates the secret and prints the new one.
func (c *AppsRotateSecretCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error {
		secret, err := db.RotateSecret(ctx, c.ID)
		if err != nil {
			return err
		}
		fmt.Println(secret)
		return nil
	})
}

// AppsAllowBucketCmd adds an allowed destination bucket.
type AppsAllowBucketCmd struct {
	AppIDArg
	Bucket string `arg:"" help:"Bucket name."`
}

// Run adds the bucket.
func (c *AppsAllowBucketCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error { return db.AllowBucket(ctx, c.ID, c.Bucket) })
}

// AppsDisallowBucketCmd removes an allowed destination bucket.
type AppsDisallowBucketCmd struct {
	AppIDArg
	Bucket string `arg:"" help:"Bucket name."`
}

// Run removes the bucket.
func (c *AppsDisallowBucketCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error { return db.DisallowBucket(ctx, c.ID, c.Bucket) })
}

// AppsDisableCmd disables an application.
type AppsDisableCmd struct{ AppIDArg }

// Run disables the application.
func (c *AppsDisableCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error { return db.SetApplicationDisabled(ctx, c.ID, true) })
}

// AppsEnableCmd re-enables an application.
type AppsEnableCmd struct{ AppIDArg }

// Run enables the application.
func (c *AppsEnableCmd) Run(ctx context.Context) error {
	return c.withDB(ctx, func(db *sqlstore.DB) error { return db.SetApplicationDisabled(ctx, c.ID, false) })
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
