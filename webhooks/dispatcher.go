package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/ids"
	"payorch/metrics"
	"payorch/store"
)

// Delivery policy defaults.
const (
	// DefaultRetryWindow is how long a delivery is retried before it is marked failed.
	DefaultRetryWindow = 72 * time.Hour
	// DefaultTimeout bounds one attempt (connect, send, answer).
	DefaultTimeout = 10 * time.Second
	// DefaultFirstRetry is the delay after the first failed attempt; it doubles after each
	// failure up to DefaultMaxRetryDelay, with ±25 % jitter.
	DefaultFirstRetry = 30 * time.Second
	// DefaultMaxRetryDelay caps the delay between two attempts.
	DefaultMaxRetryDelay = 6 * time.Hour
	// DefaultLease is how long a sender holds a claimed delivery; it must exceed the timeout.
	DefaultLease = time.Minute
	// DefaultBatchSize is how many events or deliveries one database round takes.
	DefaultBatchSize = 100
	// DefaultConcurrency is how many attempts run at once in one process.
	DefaultConcurrency = 8
)

// maxRounds bounds the batches of one RunOnce.
const maxRounds = 1000

// Dispatcher fans the outbox's public events out to the matching endpoints and delivers
// them. It is a transactional poller: all state lives in PostgreSQL (webhook_fanout_queue,
// webhook_deliveries), claimed with FOR UPDATE SKIP LOCKED and a lease, so any number of
// worker processes can run it and a crash at any point loses nothing (a claimed delivery
// whose sender died is taken again when its lease expires: at least once).
type Dispatcher struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// HTTP sends the requests; it must not follow redirects (NewHTTPClient's does not).
	// NewDispatcher's reaches public addresses only.
	HTTP *http.Client
	// Now is the scheduling clock (time.Now in production; tests move it). The
	// webhook-timestamp header always carries the wall clock.
	Now func() time.Time
	// Jitter returns a number in [0, 1) (math/rand in production).
	Jitter        func() float64
	RetryWindow   time.Duration
	FirstRetry    time.Duration
	MaxRetryDelay time.Duration
	Lease         time.Duration
	BatchSize     int32
	Concurrency   int
}

// NewDispatcher returns a Dispatcher with the default policy.
func NewDispatcher(pool *pgxpool.Pool, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{
		Pool: pool, Log: log, HTTP: NewHTTPClient(DefaultTimeout, false), Now: time.Now, Jitter: rand.Float64,
		RetryWindow: DefaultRetryWindow, FirstRetry: DefaultFirstRetry, MaxRetryDelay: DefaultMaxRetryDelay,
		Lease: DefaultLease, BatchSize: DefaultBatchSize, Concurrency: DefaultConcurrency,
	}
}

// NewHTTPClient returns the client deliveries use: the given timeout per attempt, and
// redirects returned as they are (a 3xx is a failed attempt: payorch sends nothing to an
// address the operator did not register). Unless allowPrivate, it connects only to public
// addresses: the check runs on the address actually dialled, so a name that resolves (or
// later re-resolves) to 127.0.0.1, 10.x, 169.254.169.254… is refused. No proxy is used.
func NewHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: timeout, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrPrivateAddress is the error of a delivery to a non-public address while private
// networks are not allowed.
var ErrPrivateAddress = errors.New("webhooks to private, loopback or link-local addresses are not allowed (PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS)")

func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
	}
	if !PublicAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

// Stats counts what one RunOnce did.
type Stats struct {
	// Queued is the number of deliveries created by the fan-out.
	Queued int
	// Delivered, Retrying and Failed count the attempts by outcome.
	Delivered, Retrying, Failed int
}

// Run calls RunOnce every interval until ctx is done.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.Log.Error("webhook dispatcher", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce fans out every queued event, then sends every delivery due now (including the
// ones that become due because an earlier event about the same resource was just
// delivered), and returns what it did.
func (d *Dispatcher) RunOnce(ctx context.Context) (Stats, error) {
	var st Stats
	n, err := d.FanOut(ctx)
	st.Queued = n
	if err != nil {
		return st, err
	}
	for range maxRounds {
		now := d.Now()
		claimed, err := store.New(d.Pool).ClaimDueWebhookDeliveries(ctx, store.ClaimDueWebhookDeliveriesParams{
			Now: now, LockedUntil: now.Add(d.Lease), BatchSize: d.BatchSize,
		})
		if err != nil {
			return st, fmt.Errorf("claim webhook deliveries: %w", err)
		}
		if len(claimed) == 0 {
			break
		}
		d.sendAll(ctx, claimed, &st)
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
	}
	return st, nil
}

// FanOut turns queued events into deliveries, one per matching enabled endpoint, and
// returns how many it created. One process fans out at a time (an advisory lock), so
// deliveries are created in event order; a process that finds the lock taken does nothing.
func (d *Dispatcher) FanOut(ctx context.Context) (int, error) {
	total := 0
	for range maxRounds {
		n, more, err := d.fanOutBatch(ctx)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
	return total, nil
}

func (d *Dispatcher) fanOutBatch(ctx context.Context) (created int, more bool, err error) {
	var observed []store.ListEventsForMetricsRow
	err = store.InTx(ctx, d.Pool, func(q *store.Queries, _ pgx.Tx) error {
		locked, err := q.TryLockWebhookFanout(ctx)
		if err != nil || !locked {
			return err
		}
		events, err := q.ListWebhookFanoutBatch(ctx, d.BatchSize)
		if err != nil || len(events) == 0 {
			return err
		}
		endpoints, err := q.ListEnabledWebhookEndpoints(ctx)
		if err != nil {
			return err
		}
		var p store.InsertWebhookDeliveriesParams
		eventIDs := make([]string, len(events))
		for i, ev := range events {
			eventIDs[i] = ev.ID
			for _, ep := range endpoints {
				if !subscribed(ep.Events, ev.Type) {
					continue
				}
				p.Ids = append(p.Ids, ids.New(DeliveryPrefix))
				p.EndpointIds = append(p.EndpointIds, ep.ID)
				p.EventIds = append(p.EventIds, ev.ID)
				p.EventSeqs = append(p.EventSeqs, ev.Seq)
				p.EventTypes = append(p.EventTypes, ev.Type)
				p.ResourceIds = append(p.ResourceIds, ev.ResourceID)
			}
		}
		if len(p.Ids) > 0 {
			now := d.Now()
			p.Now, p.RetryUntil = now, now.Add(d.RetryWindow)
			if err := q.InsertWebhookDeliveries(ctx, p); err != nil {
				return err
			}
		}
		if err := q.DeleteWebhookFanout(ctx, eventIDs); err != nil {
			return err
		}
		// The events leave the queue in this transaction: counted once it commits, each
		// event is counted once across every worker (metrics.ObserveEvent).
		if observed, err = q.ListEventsForMetrics(ctx, eventIDs); err != nil {
			return err
		}
		created, more = len(p.Ids), len(events) == int(d.BatchSize)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("webhook fan-out: %w", err)
	}
	for _, ev := range observed {
		metrics.ObserveEvent(ev.Type, ev.Data)
	}
	return created, more, nil
}

func (d *Dispatcher) sendAll(ctx context.Context, claimed []store.ClaimDueWebhookDeliveriesRow, st *Stats) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(d.Concurrency, 1))
	for _, c := range claimed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// A batch can take longer than its lease (slow endpoints): hold this delivery
			// for a fresh lease right before sending, or skip it if another sender has
			// claimed it meanwhile, so it is not sent twice.
			n, err := store.New(d.Pool).RenewWebhookDeliveryLease(ctx, store.RenewWebhookDeliveryLeaseParams{
				ID: c.ID, Attempts: c.Attempts, LockedUntil: d.Now().Add(d.Lease)})
			if err != nil || n == 0 {
				if ctx.Err() == nil {
					d.Log.Warn("webhook delivery not sent: its claim was lost before sending", "delivery_id", c.ID, "attempt", c.Attempts, "error", err)
				}
				return
			}
			res := d.attempt(ctx, c)
			if ctx.Err() != nil {
				return // shutting down: the lease expires and another attempt follows
			}
			outcome, err := d.record(ctx, c, res)
			if err != nil {
				d.Log.Error("webhook delivery: record attempt", "delivery_id", c.ID, "error", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch outcome {
			case DeliveryDelivered:
				st.Delivered++
			case DeliveryFailed:
				st.Failed++
			default:
				st.Retrying++
			}
		})
	}
	wg.Wait()
}

// attemptResult is what one HTTP attempt gave.
type attemptResult struct {
	statusCode *int32
	errText    string
	ok         bool
}

// Message is the JSON body of every webhook.
type Message struct {
	// ID is the event id (evt_…), also the webhook-id header.
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

func (d *Dispatcher) attempt(ctx context.Context, c store.ClaimDueWebhookDeliveriesRow) attemptResult {
	body, err := json.Marshal(Message{ID: c.EventID, Type: c.EventType, CreatedAt: c.EventCreatedAt.UTC(), Data: c.EventData})
	if err != nil {
		return attemptResult{errText: "marshal body: " + err.Error()}
	}
	secrets := []string{c.Secret}
	if c.PreviousSecret != nil && c.PreviousSecretExpiresAt != nil && c.PreviousSecretExpiresAt.After(d.Now()) {
		secrets = append(secrets, *c.PreviousSecret)
	}
	ts := time.Now()
	sig, err := Sign(c.EventID, ts, body, secrets...)
	if err != nil {
		return attemptResult{errText: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Url, bytes.NewReader(body))
	if err != nil {
		return attemptResult{errText: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "payorch-webhooks/1")
	req.Header.Set(HeaderID, c.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(ts.Unix()))
	req.Header.Set(HeaderSignature, sig)
	resp, err := d.HTTP.Do(req)
	if err != nil {
		var text string
		if isTimeout(err) {
			text = fmt.Sprintf("no answer within %s", d.HTTP.Timeout)
		} else {
			text = err.Error()
		}
		return attemptResult{errText: text}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := int32(resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return attemptResult{statusCode: &code, ok: true}
	}
	text := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		text += ": redirects are not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			text += " (Location: " + clip(loc, 200) + ")"
		}
	} else if s := strings.TrimSpace(string(snippet)); s != "" {
		text += ": " + clip(s, 200)
	}
	return attemptResult{statusCode: &code, errText: text}
}

// record stores an attempt's outcome and returns the delivery's status after it.
func (d *Dispatcher) record(ctx context.Context, c store.ClaimDueWebhookDeliveriesRow, res attemptResult) (string, error) {
	now := d.Now()
	outcome := DeliveryPending
	recorded := false
	err := store.InTx(ctx, d.Pool, func(q *store.Queries, _ pgx.Tx) error {
		var n int64
		var err error
		switch {
		case res.ok:
			outcome = DeliveryDelivered
			n, err = q.MarkWebhookDelivered(ctx, store.MarkWebhookDeliveredParams{
				ID: c.ID, Attempts: c.Attempts, At: now, StatusCode: res.statusCode,
			})
			if err == nil && n == 1 {
				err = q.ClearWebhookEndpointFailing(ctx, store.ClearWebhookEndpointFailingParams{ID: c.EndpointID, At: now})
			}
		default:
			next := now.Add(d.backoff(c.Attempts))
			errText := res.errText
			if next.After(c.RetryUntil) {
				outcome = DeliveryFailed
				n, err = q.MarkWebhookDeliveryFailed(ctx, store.MarkWebhookDeliveryFailedParams{
					ID: c.ID, Attempts: c.Attempts, At: now, StatusCode: res.statusCode, LastError: &errText,
				})
				if err == nil && n == 1 {
					err = q.SetWebhookEndpointFailing(ctx, store.SetWebhookEndpointFailingParams{ID: c.EndpointID, At: now})
				}
			} else {
				n, err = q.MarkWebhookAttemptFailed(ctx, store.MarkWebhookAttemptFailedParams{
					ID: c.ID, Attempts: c.Attempts, At: now, StatusCode: res.statusCode, LastError: &errText, NextAttemptAt: next,
				})
			}
		}
		recorded = n == 1
		if err == nil && n == 0 {
			// Another sender took the delivery over after our lease expired: its outcome wins.
			d.Log.Warn("webhook delivery: outcome dropped, delivery was taken over", "delivery_id", c.ID, "attempt", c.Attempts)
		}
		return err
	})
	if err == nil && recorded {
		result := map[string]string{DeliveryDelivered: "delivered", DeliveryFailed: "failed"}[outcome]
		if result == "" {
			result = "retrying"
		}
		metrics.ObserveDelivery(result, c.EventCreatedAt, now)
	}
	switch {
	case err != nil:
	case outcome == DeliveryFailed:
		d.Log.Warn("webhook delivery failed for good", "delivery_id", c.ID, "endpoint_id", c.EndpointID,
			"event_id", c.EventID, "attempts", c.Attempts, "error", res.errText)
	case outcome == DeliveryPending:
		d.Log.Info("webhook delivery attempt failed", "delivery_id", c.ID, "endpoint_id", c.EndpointID,
			"event_id", c.EventID, "attempt", c.Attempts, "error", res.errText)
	default:
		d.Log.Debug("webhook delivered", "delivery_id", c.ID, "endpoint_id", c.EndpointID, "event_id", c.EventID)
	}
	return outcome, err
}

// backoff is the delay after the n-th failed attempt: FirstRetry doubled n-1 times, capped
// at MaxRetryDelay, times a random factor in [0.75, 1.25).
func (d *Dispatcher) backoff(n int32) time.Duration {
	delay := d.FirstRetry
	for i := int32(1); i < n && delay < d.MaxRetryDelay; i++ {
		delay *= 2
	}
	delay = min(delay, d.MaxRetryDelay)
	return time.Duration(float64(delay) * (0.75 + 0.5*d.Jitter()))
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// clip shortens s to n bytes of valid UTF-8.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strings.ToValidUTF8(s, "?")
}
