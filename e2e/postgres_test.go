package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// postgresDatabase creates an empty database on the server named by
// VIDJOB_TEST_DATABASE_URL and returns its URL, dropping it when the test ends.
// Without that variable the test is skipped loudly, except in CI, where it fails.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("VIDJOB_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("VIDJOB_TEST_DATABASE_URL is not set; CI must run the PostgreSQL tests (.ci/run sets it)")
		}
		t.Skip("SKIPPED: VIDJOB_TEST_DATABASE_URL is not set, so the PostgreSQL path is not tested here; run scripts/start-postgres.sh and set it")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("vidjob_e2e_%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
