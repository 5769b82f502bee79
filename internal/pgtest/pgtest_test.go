package pgtest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func TestServerStopsAndStartsAgain(t *testing.T) {
	s := Start(t)
	db, err := sql.Open("pgx", s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	s.Stop()
	if err := ping(); err == nil {
		t.Fatal("stopped server still answers")
	}
	s.Start()
	if err := ping(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}
