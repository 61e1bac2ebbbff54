package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool defaults (PAYORCH_DATABASE_MAX_CONNS, PAYORCH_DATABASE_LOCK_TIMEOUT,
// PAYORCH_DATABASE_STATEMENT_TIMEOUT).
const (
	// DefaultMaxConns is the pool size of one process: enough that a few requests waiting
	// on a busy row (each for at most the lock timeout) leave connections for the rest.
	DefaultMaxConns = 20
	// DefaultLockTimeout bounds how long a statement waits for a row or table lock; the
	// waiter then fails with a retryable error (ErrBusy in the API: 503, try again) instead
	// of holding its connection and its caller.
	DefaultLockTimeout = 3 * time.Second
	// DefaultStatementTimeout bounds one statement; payorch's statements take milliseconds.
	DefaultStatementTimeout = 30 * time.Second
)

// PoolOptions size a pool and bound what one statement may wait for; zero fields take the
// defaults above.
type PoolOptions struct {
	MaxConns         int32
	LockTimeout      time.Duration
	StatementTimeout time.Duration
}

// Open connects a pool to databaseURL with NUMERIC mapped to shopspring/decimal and the
// default PoolOptions.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	return OpenWith(ctx, databaseURL, PoolOptions{})
}

// OpenWith is Open with the pool size and timeouts of opts. Every connection sets
// lock_timeout and statement_timeout, so one locked row or slow statement cannot hold
// connections (and the requests behind them) for ever.
func OpenWith(ctx context.Context, databaseURL string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10)
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
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

// IsBusy reports whether err is a statement that gave up waiting: a lock it waited for
// longer than lock_timeout (55P03), or a statement cancelled by statement_timeout (57014).
// Nothing it would have written was written; trying again later can succeed.
func IsBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "57014")
}

// IsNoRows reports whether err means the query found no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
