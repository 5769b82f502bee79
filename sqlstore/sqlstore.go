// Package sqlstore keeps applications, jobs, the billing ledger and postback
// attempts in SQL: SQLite (modernc.org/sqlite, pure Go) for the embedded default
// and PostgreSQL (pgx) for clusters. The same queries serve both; only the
// placeholders and the schema files differ.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"github.com/vidjob/vidjob"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL database behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database with vidjob's schema applied.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// url is the PostgreSQL connection string, for LISTEN.
	url string
	// read holds SQLite's read-only connections (see reader); nil on
	// PostgreSQL.
	read *sql.DB
	// apps shares FindApplication's reads among submissions that arrive
	// together (coalesce.go).
	apps *coalescer[*vidjob.Application]
}

// maxPostgresConns bounds one process's connections to PostgreSQL.
const maxPostgresConns = 20

// Open opens the database named by url: "postgres://..." or "postgresql://..."
// for PostgreSQL, "sqlite:PATH" or a plain file path for SQLite. An empty url
// means SQLite at DATADIR/vidjob.db. It does not apply migrations; call Migrate.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	db := &DB{Now: time.Now}
	db.apps = newCoalescer(appReadTimeout, db.readApplication)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		conn, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// Keep as many idle connections as may be open: database/sql keeps
		// two by default, so under load every other query would open a new
		// connection (a new server process on PostgreSQL) and close it again.
		conn.SetMaxOpenConns(maxPostgresConns)
		conn.SetMaxIdleConns(maxPostgresConns)
		conn.SetConnMaxIdleTime(5 * time.Minute)
		db.SQL, db.Dialect, db.url = conn, Postgres, url
	default:
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
			path = filepath.Join(dataDir, "vidjob.db")
		}
		// WAL lets readers work beside the writer; busy_timeout waits out short
		// locks instead of failing; IMMEDIATE transactions take the write lock up
		// front so that two writers never deadlock on an upgrade. synchronous=FULL
		// syncs the WAL at every commit, so an accepted job survives a power
		// loss, not only a crash of the process (NORMAL's promise); submissions
		// are committed in groups, so the sync is shared (docs/PERFORMANCE.md).
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
		conn, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// One connection: SQLite has one writer, and River's SQLite driver asks
		// for a single connection to avoid SQLITE_BUSY between its goroutines.
		conn.SetMaxOpenConns(1)
		db.SQL, db.Dialect = conn, SQLite
		// Lookups on the submission path read through connections of their
		// own, which WAL lets run beside the writer instead of queueing
		// behind its transaction for the one connection.
		read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
		}
		read.SetMaxOpenConns(sqliteReaders)
		read.SetMaxIdleConns(sqliteReaders)
		db.read = read
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.SQL.PingContext(pingCtx); err != nil {
		db.SQL.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.Dialect, err)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.read != nil {
		db.read.Close()
	}
	return db.SQL.Close()
}

// sqliteReaders bounds the read-only SQLite connections (reader).
const sqliteReaders = 4

// reader is where lookups that need no transaction read: on SQLite a pool
// of read-only connections beside the single writing one, on PostgreSQL the
// one pool.
func (db *DB) reader() *sql.DB {
	if db.read != nil {
		return db.read
	}
	return db.SQL
}

// Migrate applies the embedded schema files not yet applied, each in its own
// transaction. On PostgreSQL an advisory lock makes concurrent starts safe.
func (db *DB) Migrate(ctx context.Context) error {
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if db.Dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7164601)"); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7164601)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS vidjob_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create table: %w", err)
	}
	dir := "migrations/" + string(db.Dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: bad file name %s", name)
		}
		var n int
		if err := conn.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*) FROM vidjob_migrations WHERE version = ?`), version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(dir + "/" + name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO vidjob_migrations (version, applied_ms) VALUES (?, ?)`), version, db.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return db.backfillSecrets(ctx, conn)
}

// rebind turns ? placeholders into $1, $2, ... for PostgreSQL. The queries in
// this package never hold a literal question mark.
func (db *DB) rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Querier is what both *sql.DB and *sql.Tx offer, so that a method can run inside
// a caller's transaction or on its own.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) q(tx Querier) Querier {
	if tx == nil {
		return db.SQL
	}
	return tx
}

// unavailable marks errors from a database that cannot be reached, so the API
// answers 503 rather than 500.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var e *vidjob.Error
	if errors.As(err, &e) {
		return err
	}
	return vidjob.WrapError(vidjob.EUNAVAILABLE, err, "The database is unavailable; try again shortly.")
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }
