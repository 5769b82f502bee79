package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vidjob/vidjob"
)

// CreateAppPreset stores an application's custom preset unless the
// application already has max presets (EFORBIDDEN) or one named p.Name
// (EINVALID). The count and the insert share a transaction that holds the
// application's row (PostgreSQL) or the database's write lock (SQLite), so
// concurrent requests cannot pass the limit together.
func (db *DB) CreateAppPreset(ctx context.Context, p vidjob.AppPreset, max int) error {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(fmt.Errorf("create preset: %w", err))
	}
	defer tx.Rollback()
	lock := `SELECT id FROM applications WHERE id = ?`
	if db.Dialect == Postgres {
		lock += ` FOR UPDATE`
	}
	var appID string
	if err := tx.QueryRowContext(ctx, db.rebind(lock), p.ApplicationID).Scan(&appID); errors.Is(err, sql.ErrNoRows) {
		return vidjob.Errorf(vidjob.ENOTFOUND, "Application %q is not known.", p.ApplicationID)
	} else if err != nil {
		return unavailable(fmt.Errorf("create preset: %w", err))
	}
	var n, same int
	err = tx.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM app_presets WHERE application_id = ?`),
		p.Name, p.ApplicationID).Scan(&n, &same)
	if err != nil {
		return unavailable(fmt.Errorf("create preset: %w", err))
	}
	if same > 0 {
		return vidjob.Errorf(vidjob.EINVALID, "This application already has a preset named %q.", p.Name)
	}
	if n >= max {
		return vidjob.Errorf(vidjob.EFORBIDDEN, "This application has %d custom presets, the most allowed; delete one first.", n)
	}
	_, err = tx.ExecContext(ctx, db.rebind(`INSERT INTO app_presets (id, application_id, name, definition, created_ms) VALUES (?, ?, ?, ?, ?)`),
		p.ID, p.ApplicationID, p.Name, string(p.Definition), p.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("create preset: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(fmt.Errorf("create preset: %w", err))
	}
	return nil
}

// AppPresets lists an application's custom presets, oldest first.
func (db *DB) AppPresets(ctx context.Context, appID string) ([]vidjob.AppPreset, error) {
	rows, err := db.reader().QueryContext(ctx, db.rebind(`SELECT id, name, definition, created_ms FROM app_presets WHERE application_id = ? ORDER BY created_ms, id`), appID)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list presets: %w", err))
	}
	defer rows.Close()
	var out []vidjob.AppPreset
	for rows.Next() {
		p := vidjob.AppPreset{ApplicationID: appID}
		var def string
		var created int64
		if err := rows.Scan(&p.ID, &p.Name, &def, &created); err != nil {
			return nil, fmt.Errorf("list presets: %w", err)
		}
		p.Definition, p.CreatedAt = []byte(def), time.UnixMilli(created)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("list presets: %w", err))
	}
	return out, nil
}

// DeleteAppPreset removes one of the application's presets. A preset of
// another application is not touched and answers ENOTFOUND, as an unknown
// one does.
func (db *DB) DeleteAppPreset(ctx context.Context, appID, id string) error {
	res, err := db.SQL.ExecContext(ctx, db.rebind(`DELETE FROM app_presets WHERE application_id = ? AND id = ?`), appID, id)
	if err != nil {
		return unavailable(fmt.Errorf("delete preset: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vidjob.Errorf(vidjob.ENOTFOUND, "Preset %q is not known.", id)
	}
	return nil
}
