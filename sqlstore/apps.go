package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/vidjob/vidjob"
)

// NewSecret returns a new postback signing secret: 256 random bits from the
// system's cryptographic source, URL-safe base64 with a "vjs_" prefix so that
// it is recognisable in a leaked config.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "vjs_" + base64.RawURLEncoding.EncodeToString(b)
}

// CreateApplication stores a new application, giving it a signing secret when
// it has none.
func (db *DB) CreateApplication(ctx context.Context, app *vidjob.Application) error {
	if app.CreatedAt.IsZero() {
		app.CreatedAt = db.Now()
	}
	if app.Secret == "" {
		app.Secret = NewSecret()
	}
	_, err := db.SQL.ExecContext(ctx, db.rebind(`INSERT INTO applications (id, name, created_ms, secret) VALUES (?, ?, ?, ?)`),
		app.ID, app.Name, app.CreatedAt.UnixMilli(), app.Secret)
	if err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	return nil
}

// appReadTimeout bounds one read of an application shared by the
// submissions that wait for it.
const appReadTimeout = 10 * time.Second

// FindApplication returns the application, with its secret, allowed buckets
// and the number of its own presets, or an ENOTFOUND error. Every submission
// starts with it, so submissions of the same application that arrive together
// share one read; each is answered by a read that began after it asked
// (coalesce.go), so a change committed before the call is always seen.
func (db *DB) FindApplication(ctx context.Context, id string) (*vidjob.Application, error) {
	app, err := db.apps.get(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return nil, unavailable(fmt.Errorf("find application: %w", ctx.Err()))
		}
		return nil, err
	}
	// Every caller gets a copy of its own.
	own := *app
	own.Buckets = slices.Clone(app.Buckets)
	return &own, nil
}

// readApplication is FindApplication's one query: the application's row once
// per allowed bucket, or once with no bucket.
func (db *DB) readApplication(ctx context.Context, id string) (*vidjob.Application, error) {
	rows, err := db.reader().QueryContext(ctx, db.rebind(`SELECT a.id, a.name, a.created_ms, a.secret, a.disabled_ms, b.bucket,
		(SELECT COUNT(*) FROM app_presets p WHERE p.application_id = a.id)
		FROM applications a LEFT JOIN application_buckets b ON b.application_id = a.id
		WHERE a.id = ? ORDER BY b.bucket`), id)
	if err != nil {
		return nil, unavailable(fmt.Errorf("find application: %w", err))
	}
	defer rows.Close()
	var app *vidjob.Application
	for rows.Next() {
		var a vidjob.Application
		var created int64
		var disabled sql.NullInt64
		var bucket sql.NullString
		if err := rows.Scan(&a.ID, &a.Name, &created, &a.Secret, &disabled, &bucket, &a.OwnPresets); err != nil {
			return nil, fmt.Errorf("find application: %w", err)
		}
		if app == nil {
			a.CreatedAt = time.UnixMilli(created)
			a.Disabled = disabled.Valid
			app = &a
		}
		if bucket.Valid {
			app.Buckets = append(app.Buckets, bucket.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("find application: %w", err))
	}
	if app == nil {
		return nil, vidjob.Errorf(vidjob.ENOTFOUND, "Application %q is not known.", id)
	}
	return app, nil
}

// execApp runs one statement that must touch an existing application.
func (db *DB) execApp(ctx context.Context, id, what, query string, args ...any) error {
	res, err := db.SQL.ExecContext(ctx, db.rebind(query), args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vidjob.Errorf(vidjob.ENOTFOUND, "Application %q is not known.", id)
	}
	return nil
}

// RotateSecret gives the application a new signing secret and returns it; the
// old one stops working at once.
func (db *DB) RotateSecret(ctx context.Context, id string) (string, error) {
	secret := NewSecret()
	if err := db.execApp(ctx, id, "rotate secret", `UPDATE applications SET secret = ? WHERE id = ?`, secret, id); err != nil {
		return "", err
	}
	return secret, nil
}

// SetApplicationDisabled disables or re-enables an application.
func (db *DB) SetApplicationDisabled(ctx context.Context, id string, disabled bool) error {
	var at any
	if disabled {
		at = db.Now().UnixMilli()
	}
	return db.execApp(ctx, id, "disable application", `UPDATE applications SET disabled_ms = ? WHERE id = ?`, at, id)
}

// AllowBucket adds bucket to the application's allowed destination buckets.
func (db *DB) AllowBucket(ctx context.Context, id, bucket string) error {
	if err := vidjob.ValidateBucket(bucket); err != nil {
		return err
	}
	if _, err := db.FindApplication(ctx, id); err != nil {
		return err
	}
	q := `INSERT INTO application_buckets (application_id, bucket) VALUES (?, ?) ON CONFLICT DO NOTHING`
	if _, err := db.SQL.ExecContext(ctx, db.rebind(q), id, bucket); err != nil {
		return fmt.Errorf("allow bucket: %w", err)
	}
	return nil
}

// DisallowBucket removes bucket from the application's allowed destination
// buckets; removing the last one lets the application write anywhere again.
func (db *DB) DisallowBucket(ctx context.Context, id, bucket string) error {
	if _, err := db.FindApplication(ctx, id); err != nil {
		return err
	}
	if _, err := db.SQL.ExecContext(ctx, db.rebind(`DELETE FROM application_buckets WHERE application_id = ? AND bucket = ?`), id, bucket); err != nil {
		return fmt.Errorf("disallow bucket: %w", err)
	}
	return nil
}

// backfillSecrets gives a secret to applications created before secrets
// existed, so that every postback can be signed.
func (db *DB) backfillSecrets(ctx context.Context, q Querier) error {
	rows, err := q.QueryContext(ctx, `SELECT id FROM applications WHERE secret = ''`)
	if err != nil {
		return fmt.Errorf("backfill secrets: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("backfill secrets: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := q.ExecContext(ctx, db.rebind(`UPDATE applications SET secret = ? WHERE id = ? AND secret = ''`), NewSecret(), id); err != nil {
			return fmt.Errorf("backfill secrets: %w", err)
		}
	}
	return nil
}
