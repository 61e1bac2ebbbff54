// Package idempotency is the one home of "a request is never run twice, and never
// half-run" (DESIGN.md, "Exactly once at the edges"). A client's Idempotency-Key is claimed
// when its request starts, bound to the resource the request creates in the same database
// transaction as that resource, and completed with the final answer. A retry of the same
// request (same key, same JSON body) gets the first final answer; while the first run is
// still finishing it gets 202 with the resource; if the first run ended without a final
// answer (a crash, a hang-up before the answer was recorded, a 5xx, a 202) the request
// runs again, and the domain code finds the resource already bound to the key instead of
// creating a second one. Updates sent to workflows carry ids derived from the key, so a
// retry attaches to the Update already admitted.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/store"
)

const (
	// Retention is how long a key's first answer is replayed.
	Retention = 24 * time.Hour
	// LockTimeout is after how long a run that never answered (its process died) no
	// longer keeps a retry of the same request waiting.
	LockTimeout = time.Minute
)

// Key is one client request's idempotency key, scoped to the API key that sent it, with
// the hash of what was asked (method, path and the body as a JSON value).
type Key struct {
	Scope       string
	Key         string
	RequestHash []byte
	// Generation counts the runs of this request that ended in a failure, and Created is
	// when the key was first claimed (a key reused after its retention is a new request):
	// both go into the Update ids the request derives (UpdateID). Claim sets them.
	Generation int32
	Created    time.Time
}

type ctxKey struct{}

// WithKey returns ctx carrying k, for the domain code that binds resources to it.
func WithKey(ctx context.Context, k Key) context.Context { return context.WithValue(ctx, ctxKey{}, k) }

// FromContext returns the request key ctx carries, if any.
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(Key)
	return k, ok
}

// RequestHash hashes a request: method, path and the body compared as a JSON value (key
// order and white space do not matter; "1.0" and "1.00" differ, as decimals do). A body
// that is not JSON is hashed as its bytes; an empty body hashes like no body.
func RequestHash(method, path string, body []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, path)
	h.Write(canonicalJSON(body))
	return h.Sum(nil)
}

func canonicalJSON(body []byte) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return body // trailing data: not one JSON value
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return body
	}
	return append([]byte("json:"), out...)
}

// Prior is what an earlier request with the same key left.
type Prior struct {
	// SameRequest is false when the key was used for another request (409).
	SameRequest bool
	// Done is true when a final answer is recorded (Status, Body).
	Done   bool
	Status int
	Body   []byte
	// Provisional is the resource the first run created, shown with 202 while it finishes
	// (nil when it has created nothing yet).
	Provisional []byte
}

// Claim claims k for a new run of its request and fills in its Generation and Created.
// claimed is false when another run holds the key or completed it; prior then says what
// it left.
func Claim(ctx context.Context, pool *pgxpool.Pool, k *Key, method, path string) (claimed bool, prior Prior, err error) {
	q := store.New(pool)
	row, err := q.ClaimIdempotencyKey(ctx, store.ClaimIdempotencyKeyParams{
		Scope: k.Scope, Key: k.Key, Method: method, Path: path, RequestHash: k.RequestHash,
		RetentionSeconds: Retention.Seconds(), LockTimeoutSeconds: LockTimeout.Seconds(),
	})
	if err == nil {
		k.Generation, k.Created = row.Generation, row.CreatedAt
		return true, Prior{}, nil
	}
	if !store.IsNoRows(err) {
		return false, Prior{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	prev, err := q.GetIdempotencyKey(ctx, store.GetIdempotencyKeyParams{Scope: k.Scope, Key: k.Key})
	if store.IsNoRows(err) {
		// Claimed by nobody yet gone: a concurrent reclaim raced us; let the caller retry.
		return false, Prior{SameRequest: true}, nil
	}
	if err != nil {
		return false, Prior{}, fmt.Errorf("get idempotency key: %w", err)
	}
	prior = Prior{SameRequest: bytes.Equal(prev.RequestHash, k.RequestHash), Provisional: prev.ProvisionalBody}
	if prev.StatusCode != nil {
		prior.Done, prior.Status, prior.Body = true, int(*prev.StatusCode), prev.ResponseBody
	}
	return false, prior, nil
}

// Complete records the final answer of k's request: every retry replays it.
func Complete(ctx context.Context, pool *pgxpool.Pool, k Key, status int, body []byte) error {
	st := int32(status)
	return store.New(pool).CompleteIdempotencyKey(ctx, store.CompleteIdempotencyKeyParams{
		Scope: k.Scope, Key: k.Key, StatusCode: &st, ResponseBody: body})
}

// Unlock ends a run without a final answer: the key stays bound to its request and to
// what the run created, and a retry runs it again at once, attaching to the Updates this
// run sent. failed says a workflow recorded a failure as an Update's outcome that may
// heal: the key's generation then moves on, so the rerun sends fresh Updates instead.
// provisional, when not nil, replaces the resource shown with 202 meanwhile.
func Unlock(ctx context.Context, pool *pgxpool.Pool, k Key, failed bool, provisional []byte) error {
	return store.New(pool).UnlockIdempotencyKey(ctx, store.UnlockIdempotencyKeyParams{
		Scope: k.Scope, Key: k.Key, ProvisionalBody: provisional, Failed: failed})
}

// Existing returns the id of the resource that an earlier run of ctx's request created
// ("" when none, or when ctx carries no key), and locks the key until q's transaction
// ends. Call it first in the transaction that creates the resource, then Bind.
func Existing(ctx context.Context, q *store.Queries) (string, error) {
	k, ok := FromContext(ctx)
	if !ok {
		return "", nil
	}
	id, err := q.LockIdempotencyKey(ctx, store.LockIdempotencyKeyParams{Scope: k.Scope, Key: k.Key})
	if store.IsNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lock idempotency key: %w", err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// Reuse returns what an earlier run of ctx's request created, read with get, and locks
// the key until q's transaction ends (see Existing); found is false when there is none.
// Call it first in the transaction that creates the resource, then Bind.
func Reuse[T any](ctx context.Context, q *store.Queries, get func(id string) (T, error)) (out T, found bool, err error) {
	id, err := Existing(ctx, q)
	if err != nil || id == "" {
		return out, false, err
	}
	if out, err = get(id); err != nil {
		return out, false, fmt.Errorf("idempotency: read %s, made by an earlier run of this request: %w", id, err)
	}
	return out, true, nil
}

// Bind binds ctx's request key to the resource it created, in q's transaction (the one
// that created it); shown is the resource as the API answers it (JSON), replayed with 202
// to a duplicate while the request finishes. Without a key it does nothing.
func Bind(ctx context.Context, q *store.Queries, resourceID string, shown any) error {
	k, ok := FromContext(ctx)
	if !ok {
		return nil
	}
	body, err := json.Marshal(shown)
	if err != nil {
		return fmt.Errorf("idempotency: marshal resource: %w", err)
	}
	return q.BindIdempotencyKey(ctx, store.BindIdempotencyKeyParams{
		Scope: k.Scope, Key: k.Key, ResourceID: &resourceID, ProvisionalBody: body})
}

// UpdateID derives the id of the Update a request sends to a workflow from ctx's request
// key (scope, key, when it was claimed, the request, the generation), so a retry of the
// request attaches to the Update already admitted, and a rerun after a failed one sends a
// fresh one. Without a key it returns "" (the Temporal client then makes a fresh id).
func UpdateID(ctx context.Context, name string) string {
	k, ok := FromContext(ctx)
	if !ok {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", k.Scope, k.Key, k.Created.UnixMicro())
	h.Write(k.RequestHash)
	return fmt.Sprintf("%s:%s:%d", name, hex.EncodeToString(h.Sum(nil))[:32], k.Generation)
}
