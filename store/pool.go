package store

import (
	"context"
	"errors"
	"fmt"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool to databaseURL with NUMERIC mapped to shopspring/decimal.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return pool, nil
}

// InTx runs fn inside a transaction on pool, committing when fn returns nil.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(q *Queries, tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return fn(New(tx), tx)
	})
}

// IsUniqueViolation reports whether err is a unique-constraint violation, optionally of
// the named constraint ("" matches any).
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// IsCheckViolation reports whether err is a CHECK-constraint violation, optionally of the
// named constraint ("" matches any).
func IsCheckViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// IsNoRows reports whether err means the query found no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
