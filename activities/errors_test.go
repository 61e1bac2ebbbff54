package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"payorch/contracts"
	"payorch/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{}) }

// TestBridgeClassifiesRealDatabaseErrors: errors PostgreSQL really returns are sorted by
// what a retry can do — data errors and constraint violations (SQLSTATE classes 22, 23,
// e.g. a NUL byte in text) and misconfiguration (class 42) never heal and are
// non-retryable with a type; a connection failure stays retryable.
func TestBridgeClassifiesRealDatabaseErrors(t *testing.T) {
	pool, url := env.Postgres.NewPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE bridge_probe (n int CHECK (n > 0), s text)`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sql string
		args      []any
		typ       string
	}{
		{"NUL byte in text", `INSERT INTO bridge_probe (n, s) VALUES (1, $1)`, []any{"TRX\x00NUL"}, contracts.ErrInvalidData},
		{"invalid UTF-8", `INSERT INTO bridge_probe (n, s) VALUES (1, $1)`, []any{"bad \xff\xfe"}, contracts.ErrInvalidData},
		{"out of range", `INSERT INTO bridge_probe (n) VALUES ($1::bigint)`, []any{int64(1) << 40}, contracts.ErrInvalidData},
		{"check violation", `INSERT INTO bridge_probe (n) VALUES (-1)`, nil, contracts.ErrInvalidData},
		{"missing column (migrations not applied)", `SELECT no_such_column FROM bridge_probe`, nil, contracts.ErrMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, c.sql, c.args...)
			if err == nil {
				t.Fatal("the database accepted it")
			}
			var appErr *temporal.ApplicationError
			if got := bridge(err); !errors.As(got, &appErr) || !appErr.NonRetryable() || appErr.Type() != c.typ {
				t.Fatalf("bridge(%v) = %v, want a non-retryable %s", err, got, c.typ)
			}
			// The domain classifier ends in the bridge too.
			if got := classify(err); !errors.As(got, &appErr) || appErr.Type() != c.typ {
				t.Fatalf("classify(%v) = %v, want %s", err, got, c.typ)
			}
			if got := ledgerError(err); !errors.As(got, &appErr) || appErr.Type() != c.typ {
				t.Fatalf("ledgerError(%v) = %v, want %s", err, got, c.typ)
			}
		})
	}
	t.Run("connection failure stays retryable", func(t *testing.T) {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.Port = 1 // nothing listens there
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
		dead, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer dead.Close()
		_, err = dead.Exec(ctx, `SELECT 1`)
		if err == nil {
			t.Fatal("connected to nothing")
		}
		var appErr *temporal.ApplicationError
		if got := bridge(err); errors.As(got, &appErr) {
			t.Fatalf("bridge(%v) = %v, want it retryable as it is", err, got)
		}
	})
}
