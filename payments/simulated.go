package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/ids"
	"payorch/money"
	"payorch/store"
)

// SimulatedProviderName is the name of the simulated provider (Provider.Name, Event.Provider).
const SimulatedProviderName = "simulated"

// Defaults of SimulatedOptions.
const (
	// DefaultSEPADelay is how long a simulated SEPA direct debit stays pending before its
	// outcome event is due.
	DefaultSEPADelay = 10 * time.Second
	// DefaultSimEventRetryDelay is the first redelivery delay of an event whose handler
	// failed; it doubles on every failure, up to MaxSimEventRetryDelay.
	DefaultSimEventRetryDelay = 2 * time.Second
	// MaxSimEventRetryDelay caps the redelivery delay of a failing event.
	MaxSimEventRetryDelay = 10 * time.Minute
	// DefaultSimEventPollInterval is how often RunEventLoop looks for due events when
	// given no interval.
	DefaultSimEventPollInterval = time.Second
)

// simEventBatch bounds the events one DeliverDueEvents call delivers.
const simEventBatch = 100

// ErrIdempotencyMismatch is wrapped by the non-retryable *ProviderError the simulated
// provider returns when an idempotency key is reused with another amount, currency,
// payment method or customer (Stripe answers such a request with an idempotency_error).
var ErrIdempotencyMismatch = errors.New("idempotency key reused with different parameters")

// SimulatedOptions configures the simulated provider. The zero value is usable.
type SimulatedOptions struct {
	// SEPADelay is how long a SEPA charge (pm_sim_sepa_settle, pm_sim_sepa_fail) stays
	// pending before its outcome event is due (PAYORCH_SIM_SEPA_DELAY). Zero: DefaultSEPADelay.
	SEPADelay time.Duration
	// EventRetryDelay is the first redelivery delay after the event handler failed; it
	// doubles on each failure, capped at MaxSimEventRetryDelay. Zero:
	// DefaultSimEventRetryDelay.
	EventRetryDelay time.Duration
	// BankTransferDelay is how long after the bank-transfer instructions a simulated
	// customer's incoming transfer is due, and the gap between two partial ones
	// (PAYORCH_SIM_BANK_TRANSFER_DELAY). Zero: DefaultSimBankTransferDelay.
	BankTransferDelay time.Duration
	// Now is the clock (charge times, event due times). Nil: time.Now.
	Now func() time.Time
	// Logger receives RunEventLoop's delivery failures. Nil: slog.Default().
	Logger *slog.Logger
}

// Simulated is the built-in provider used when no Stripe key is configured. Its charges
// are rows of the sim_charges table keyed by idempotency key, so the same key always
// returns the first result, across restarts and concurrent calls, and nothing is charged
// twice. Its behaviour is chosen by the payment method id (see SimulatedPaymentMethods):
// Stripe's test ids behave as they do in Stripe test mode, and pm_sim_… ids cover every
// other error type, retries, outages and SEPA direct debits whose outcome arrives later
// as an Event (delivered by DeliverDueEvents / RunEventLoop). It is safe for concurrent
// use, also by several processes sharing one database.
type Simulated struct {
	pool *pgxpool.Pool
	q    *store.Queries
	opts SimulatedOptions
}

var _ Provider = (*Simulated)(nil)

// NewSimulated returns a simulated provider that keeps its charges in pool's database
// (migrations applied).
func NewSimulated(pool *pgxpool.Pool, opts SimulatedOptions) *Simulated {
	if opts.SEPADelay <= 0 {
		opts.SEPADelay = DefaultSEPADelay
	}
	if opts.EventRetryDelay <= 0 {
		opts.EventRetryDelay = DefaultSimEventRetryDelay
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Simulated{pool: pool, q: store.New(pool), opts: opts}
}

// Name returns "simulated".
func (s *Simulated) Name() string { return SimulatedProviderName }

// Charge simulates an off-session charge of req.PaymentMethodRef. The first call for an
// idempotency key decides the result and stores it; every later call with that key
// returns it unchanged (a SEPA charge stays "pending" in replays, like a Stripe
// idempotent replay; its outcome arrives as an Event).
//
// Errors: a plain error wrapping ErrInvalidChargeRequest for a request Stripe would
// refuse before charging (missing key or payment method, unknown currency, non-positive
// amount, an amount that is not a whole number of minor units); a *ProviderError for a
// simulated outage (retryable), simulated bad credentials (not retryable), a key reused
// with other parameters (not retryable, wraps ErrIdempotencyMismatch) and a database
// failure (retryable).
func (s *Simulated) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if req.CustomerRef == "" {
		// The simulator has no customers of its own: without a provider customer id the
		// charge is filed under payorch's customer (so "fail N times" counts per customer).
		req.CustomerRef = req.Metadata["customer_id"]
	}
	cur, err := validateSimCharge(req)
	if err != nil {
		return ChargeResult{}, err
	}
	row, err := s.q.SimChargeByKey(ctx, req.IdempotencyKey)
	switch {
	case err == nil:
		return replaySimCharge(row, req, cur)
	case !store.IsNoRows(err):
		return ChargeResult{}, simInfraError(err)
	}

	b := simBehaviourFor(req.PaymentMethodRef)
	switch b.kind {
	case simBadCredentials:
		return ChargeResult{}, &ProviderError{Provider: SimulatedProviderName, HTTPStatus: http.StatusUnauthorized,
			Code: "api_key_expired", Retryable: false, Err: errors.New("simulated: the API key is invalid or expired")}
	case simOutage:
		calls, err := s.q.BumpSimOutageCalls(ctx, req.IdempotencyKey)
		if err != nil {
			return ChargeResult{}, simInfraError(err)
		}
		if int(calls) <= b.n {
			return ChargeResult{}, &ProviderError{Provider: SimulatedProviderName, HTTPStatus: http.StatusServiceUnavailable,
				Code: "sim_outage", Retryable: true,
				Err: fmt.Errorf("simulated outage: call %d of %d for this idempotency key is refused", calls, b.n)}
		}
	}

	meta := []byte("{}")
	if len(req.Metadata) > 0 {
		if meta, err = json.Marshal(req.Metadata); err != nil {
			return ChargeResult{}, fmt.Errorf("%w: metadata: %w", ErrInvalidChargeRequest, err)
		}
	}
	now := s.opts.Now().UTC()
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		outcome := b.outcome
		if b.kind == simFailThenSettle {
			// Count this payment method's earlier charges with no other charge of it
			// in between; a concurrent call with this very key may have won meanwhile.
			if err := q.LockSimPaymentMethod(ctx, store.LockSimPaymentMethodParams{
				PaymentMethodRef: req.PaymentMethodRef, CustomerRef: req.CustomerRef}); err != nil {
				return err
			}
			existing, err := q.SimChargeByKey(ctx, req.IdempotencyKey)
			if err == nil {
				row = existing
				return nil
			}
			if !store.IsNoRows(err) {
				return err
			}
			earlier, err := q.CountSimCharges(ctx, store.CountSimChargesParams{
				PaymentMethodRef: req.PaymentMethodRef, CustomerRef: req.CustomerRef})
			if err != nil {
				return err
			}
			if earlier < int64(b.n) {
				outcome = simDecline("processing_error", "",
					fmt.Sprintf("An error occurred while processing your card (simulated failure %d of %d).", earlier+1, b.n))
			}
		}
		id := ids.New(ids.Charge)
		p := store.InsertSimChargeParams{
			ID: id, IdempotencyKey: req.IdempotencyKey, PaymentMethodRef: req.PaymentMethodRef,
			CustomerRef: req.CustomerRef, Amount: req.Amount, Currency: cur, Description: req.Description,
			Status: string(outcome.Status), ErrorType: string(outcome.ErrorType), HardDecline: outcome.HardDecline,
			ProviderCode: outcome.ProviderCode, DeclineCode: outcome.DeclineCode, Message: outcome.Message,
			Metadata: meta, CreatedAt: now,
		}
		if b.event != nil {
			eventID := "evt_" + id
			due := now.Add(s.opts.SEPADelay)
			p.EventID, p.EventDueAt = &eventID, &due
			p.EventStatus, p.EventErrorType, p.EventHardDecline = string(b.event.Status), string(b.event.ErrorType), b.event.HardDecline
			p.EventProviderCode, p.EventDeclineCode, p.EventMessage = b.event.ProviderCode, b.event.DeclineCode, b.event.Message
		}
		if _, err := q.InsertSimCharge(ctx, p); err != nil {
			return err
		}
		// The first insert for the key wins (ours, or a concurrent call's).
		winner, err := q.SimChargeByKey(ctx, req.IdempotencyKey)
		row = winner
		return err
	})
	if err != nil {
		return ChargeResult{}, simInfraError(err)
	}
	return replaySimCharge(row, req, cur)
}

// validateSimCharge refuses what Stripe refuses before charging, with the same errors as
// the Stripe provider, and returns the normalized currency.
func validateSimCharge(req ChargeRequest) (string, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return "", fmt.Errorf("%w: idempotency key is required", ErrInvalidChargeRequest)
	}
	if len(req.IdempotencyKey) > 255 {
		return "", fmt.Errorf("%w: idempotency key is longer than 255 characters", ErrInvalidChargeRequest)
	}
	if strings.TrimSpace(req.PaymentMethodRef) == "" {
		return "", fmt.Errorf("%w: payment method is required", ErrInvalidChargeRequest)
	}
	cur, err := money.NormalizeCurrency(req.Currency)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	if !req.Amount.IsPositive() {
		return "", fmt.Errorf("%w: amount must be positive, got %s", ErrInvalidChargeRequest, req.Amount.String())
	}
	if _, err := money.ToMinor(req.Amount, cur); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	return cur, nil
}

// replaySimCharge returns a stored charge's result, or the idempotency-mismatch error when
// req is not the request that created it.
func replaySimCharge(row store.SimCharge, req ChargeRequest, cur string) (ChargeResult, error) {
	var diffs []string
	if !row.Amount.Equal(req.Amount) || row.Currency != cur {
		diffs = append(diffs, fmt.Sprintf("amount %s %s (first: %s %s)", req.Amount, cur, row.Amount, row.Currency))
	}
	if row.PaymentMethodRef != req.PaymentMethodRef {
		diffs = append(diffs, fmt.Sprintf("payment method %q (first: %q)", req.PaymentMethodRef, row.PaymentMethodRef))
	}
	if row.CustomerRef != req.CustomerRef {
		diffs = append(diffs, fmt.Sprintf("customer %q (first: %q)", req.CustomerRef, row.CustomerRef))
	}
	if len(diffs) > 0 {
		return ChargeResult{}, &ProviderError{Provider: SimulatedProviderName, HTTPStatus: http.StatusBadRequest,
			Code: "idempotency_error", Retryable: false,
			Err: fmt.Errorf("%w: key %q was first used for charge %s; now %s", ErrIdempotencyMismatch,
				req.IdempotencyKey, row.ID, strings.Join(diffs, ", "))}
	}
	return ChargeResult{
		Status: ChargeStatus(row.Status), Reference: row.ID, ErrorType: ErrorType(row.ErrorType),
		HardDecline: row.HardDecline, ProviderCode: row.ProviderCode, DeclineCode: row.DeclineCode, Message: row.Message,
	}, nil
}

// simInfraError wraps a database failure as a retryable provider error: the caller
// repeats the charge with the same key, which is safe.
func simInfraError(err error) error {
	return &ProviderError{Provider: SimulatedProviderName, Retryable: true, Err: fmt.Errorf("simulated provider store: %w", err)}
}

// DeliverDueEvents hands every due, undelivered simulated event (a SEPA charge's outcome,
// an incoming bank transfer, and for pm_sim_sepa_return the return that follows its
// settlement, due SEPADelay later) to handler, one database transaction per event holding the charge row (FOR UPDATE SKIP
// LOCKED, so several pollers never deliver one event at the same time). An event is
// marked delivered only when the handler returns nil; on an error it is postponed
// (EventRetryDelay, doubling) and delivered again by a later call: delivery is at least
// once, and handlers de-duplicate by Event.ID. It returns how many events were delivered
// (at most 100 per call) and the handlers' errors joined, or a database error.
func (s *Simulated) DeliverDueEvents(ctx context.Context, handler EventHandler) (int, error) {
	if handler == nil {
		return 0, errors.New("simulated provider: no event handler")
	}
	delivered := 0
	var handlerErrs []error
	for range simEventBatch {
		now := s.opts.Now().UTC()
		found, ok := false, false
		err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
			row, err := q.NextDueSimEvent(ctx, now)
			if store.IsNoRows(err) {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			ev := simEventFromRow(row)
			if herr := handler.HandleProviderEvent(ctx, ev); herr != nil {
				handlerErrs = append(handlerErrs, fmt.Errorf("simulated event %s (charge %s): %w", ev.ID, ev.Reference, herr))
				msg := herr.Error()
				if len(msg) > 1000 {
					msg = msg[:1000]
				}
				return q.PostponeSimEvent(ctx, store.PostponeSimEventParams{
					ID: row.ID, LastError: msg, DueAt: now.Add(s.retryDelay(int(row.EventAttempts) + 1))})
			}
			ok = true
			// A debit that settles and is then returned: its return is the next event.
			if then := simBehaviourFor(row.PaymentMethodRef).then; then != nil && row.EventStatus != string(then.Status) {
				return q.RearmSimEvent(ctx, store.RearmSimEventParams{ID: row.ID, EventID: *row.EventID + "_return",
					EventStatus: string(then.Status), EventProviderCode: then.ProviderCode, EventMessage: then.Message,
					DueAt: now.Add(s.opts.SEPADelay)})
			}
			return q.MarkSimEventDelivered(ctx, store.MarkSimEventDeliveredParams{ID: row.ID, DeliveredAt: now})
		})
		if err != nil {
			return delivered, errors.Join(append(handlerErrs, fmt.Errorf("simulated provider events: %w", err))...)
		}
		if !found {
			// No charge outcome is due: an incoming bank transfer may be.
			var herr error
			found, ok, herr, err = s.deliverNextBankTransferEvent(ctx, handler, now)
			if herr != nil {
				handlerErrs = append(handlerErrs, herr)
			}
			if err != nil {
				return delivered, errors.Join(append(handlerErrs, fmt.Errorf("simulated provider events: %w", err))...)
			}
		}
		if !found {
			break
		}
		if ok {
			delivered++
		}
	}
	return delivered, errors.Join(handlerErrs...)
}

// retryDelay is the delay before the next delivery after the given number of failures.
func (s *Simulated) retryDelay(failures int) time.Duration {
	d := s.opts.EventRetryDelay
	for i := 1; i < failures && d < MaxSimEventRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxSimEventRetryDelay)
}

// RunEventLoop delivers due simulated events to handler every interval (zero:
// DefaultSimEventPollInterval) until ctx is done; failures are logged and retried. The
// worker runs it when the simulated provider is selected.
func (s *Simulated) RunEventLoop(ctx context.Context, handler EventHandler, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSimEventPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.DeliverDueEvents(ctx, handler)
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "simulated provider: event delivery failed; retrying later", "error", err, "delivered", n)
		} else if n > 0 {
			s.opts.Logger.InfoContext(ctx, "simulated provider: events delivered", "count", n)
		}
		if n == simEventBatch && err == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// simEventFromRow builds the outcome event of a pending charge.
func simEventFromRow(row store.SimCharge) Event {
	ev := Event{
		ID: *row.EventID, Provider: SimulatedProviderName, Reference: row.ID, Status: ChargeStatus(row.EventStatus),
		ErrorType: ErrorType(row.EventErrorType), HardDecline: row.EventHardDecline, ProviderCode: row.EventProviderCode,
		DeclineCode: row.EventDeclineCode, Message: row.EventMessage,
	}
	var meta map[string]string
	if err := json.Unmarshal(row.Metadata, &meta); err == nil && len(meta) > 0 {
		ev.Metadata = meta
	}
	return ev
}

// simKind is how a simulated payment method behaves.
type simKind int

const (
	simImmediate      simKind = iota // the outcome is returned at once
	simFailThenSettle                // the first n charges fail with processing_error
	simOutage                        // the first n calls per key are a provider outage
	simBadCredentials                // every call is a non-retryable provider error
	simSEPA                          // pending; the outcome arrives later as an event
)

// simBehaviour is a payment method's simulated behaviour.
type simBehaviour struct {
	kind    simKind
	n       int
	outcome ChargeResult  // the immediate result (Reference filled in later)
	event   *ChargeResult // the later outcome of a pending charge
	then    *ChargeResult // a further event once event is delivered (a settled debit returned)
}

var (
	simFailPattern   = regexp.MustCompile(`^pm_sim_fail([0-9]{1,4})_then_settle$`)
	simOutagePattern = regexp.MustCompile(`^pm_sim_outage([0-9]{1,4})_then_settle$`)
)

// simSettled is a successful charge.
var simSettled = ChargeResult{Status: StatusSettled}

// simDecline is a failed charge with Stripe's codes, typed by the one mapping table.
func simDecline(code, declineCode, msg string) ChargeResult {
	t, hard := MapStripeDecline(code, declineCode)
	return ChargeResult{Status: StatusFailed, ErrorType: t, HardDecline: hard, ProviderCode: code, DeclineCode: declineCode, Message: msg}
}

// SimulatedPaymentMethod documents one payment method id the simulated provider knows.
type SimulatedPaymentMethod struct {
	// ID is the payment method id to save as a payment method's provider_id. For the
	// parameterized ids, N (or K) stands for a number: pm_sim_fail2_then_settle.
	ID string
	// Status is the charge's immediate status.
	Status ChargeStatus
	// ErrorType, HardDecline, Code and DeclineCode describe a failure (of the charge, or
	// for SEPA of the later event).
	ErrorType   ErrorType
	HardDecline bool
	Code        string
	DeclineCode string
	// Behaviour says what happens, in a sentence.
	Behaviour string
}

// simFixed lists the fixed ids with their immediate outcome; simulatedDocs documents
// them and the parameterized ones.
var simFixed = map[string]simBehaviour{
	// Stripe's test payment methods (https://docs.stripe.com/testing), same codes.
	"pm_card_visa":       {outcome: simSettled},
	"pm_card_mastercard": {outcome: simSettled},
	"pm_card_amex":       {outcome: simSettled},
	"pm_card_chargeDeclined": {outcome: simDecline("card_declined", "generic_decline",
		"Your card was declined.")},
	"pm_card_chargeCustomerFail": {outcome: simDecline("card_declined", "generic_decline",
		"Your card was declined.")},
	"pm_card_chargeDeclinedInsufficientFunds": {outcome: simDecline("card_declined", "insufficient_funds",
		"Your card has insufficient funds.")},
	"pm_card_chargeDeclinedLostCard": {outcome: simDecline("card_declined", "lost_card",
		"Your card was declined.")},
	"pm_card_chargeDeclinedStolenCard": {outcome: simDecline("card_declined", "stolen_card",
		"Your card was declined.")},
	"pm_card_chargeDeclinedExpiredCard": {outcome: simDecline("expired_card", "",
		"Your card has expired.")},
	"pm_card_chargeDeclinedIncorrectCvc": {outcome: simDecline("incorrect_cvc", "",
		"Your card's security code is incorrect.")},
	"pm_card_chargeDeclinedProcessingError": {outcome: simDecline("processing_error", "",
		"An error occurred while processing your card. Try again in a little bit.")},
	"pm_card_chargeDeclinedFraudulent": {outcome: simDecline("card_declined", "fraudulent",
		"Your card was declined.")},
	"pm_card_authenticationRequired": {outcome: simDecline("card_declined", "authentication_required",
		"Your card was declined. This transaction requires authentication.")},
	// The simulator's own ids for the other error types.
	"pm_sim_authorization_error": {outcome: simDecline("card_declined", "issuer_not_available",
		"The card issuer couldn't be reached (simulated).")},
	"pm_sim_not_supported": {outcome: simDecline("card_declined", "card_not_supported",
		"Your card does not support this type of purchase (simulated).")},
	"pm_sim_invalid": {outcome: simDecline("incorrect_number", "incorrect_number",
		"Your card number is incorrect (simulated).")},
	"pm_sim_do_not_try_again": {outcome: simDecline("card_declined", "do_not_try_again",
		"Your card was declined; the issuer asks not to try again (simulated).")},
	"pm_sim_unknown": {outcome: simDecline("sim_unknown_error", "",
		"An unexpected error happened at the provider (simulated).")},
	"pm_sim_bad_credentials": {kind: simBadCredentials},
	"pm_sim_sepa_settle": {kind: simSEPA, outcome: ChargeResult{Status: StatusPending},
		event: &ChargeResult{Status: StatusSettled}},
	"pm_sim_sepa_return": {kind: simSEPA, outcome: ChargeResult{Status: StatusPending},
		event: &ChargeResult{Status: StatusSettled},
		then: &ChargeResult{Status: StatusReversed, ProviderCode: "MD06",
			Message: "The customer's bank returned the direct debit (SEPA return MD06, simulated)."}},
	"pm_sim_sepa_fail": {kind: simSEPA, outcome: ChargeResult{Status: StatusPending},
		event: func() *ChargeResult {
			r := simDecline("insufficient_funds", "insufficient_funds", "The customer's account has insufficient funds to cover this payment (simulated).")
			return &r
		}()},
}

// simBehaviourFor returns the behaviour of a payment method id.
func simBehaviourFor(pm string) simBehaviour {
	if b, ok := simFixed[pm]; ok {
		return b
	}
	if m := simFailPattern.FindStringSubmatch(pm); m != nil {
		n, _ := strconv.Atoi(m[1])
		return simBehaviour{kind: simFailThenSettle, n: n, outcome: simSettled}
	}
	if m := simOutagePattern.FindStringSubmatch(pm); m != nil {
		n, _ := strconv.Atoi(m[1])
		return simBehaviour{kind: simOutage, n: n, outcome: simSettled}
	}
	if strings.HasPrefix(pm, "pm_card_") {
		return simBehaviour{outcome: simSettled} // Stripe's other test cards (pm_card_visa_debit…) succeed
	}
	// Stripe answers resource_missing for a payment method it does not know.
	return simBehaviour{outcome: ChargeResult{Status: StatusFailed, ErrorType: ErrPaymentMethodInvalid, HardDecline: true,
		ProviderCode: "resource_missing", Message: fmt.Sprintf("No such PaymentMethod: '%s'", pm)}}
}

// SimulatedPaymentMethods documents every payment method id the simulated provider
// knows, in README order (a test checks the README lists each).
func SimulatedPaymentMethods() []SimulatedPaymentMethod {
	doc := func(id, behaviour string) SimulatedPaymentMethod {
		b := simBehaviourFor(id)
		r := b.outcome
		if b.event != nil && b.event.Status == StatusFailed {
			r = *b.event
			r.Status = StatusPending
		}
		return SimulatedPaymentMethod{ID: id, Status: r.Status, ErrorType: r.ErrorType, HardDecline: r.HardDecline,
			Code: r.ProviderCode, DeclineCode: r.DeclineCode, Behaviour: behaviour}
	}
	return []SimulatedPaymentMethod{
		doc("pm_card_visa", "settles"),
		doc("pm_card_mastercard", "settles"),
		doc("pm_card_amex", "settles"),
		doc("pm_card_chargeDeclinedInsufficientFunds", "fails: insufficient funds"),
		doc("pm_card_chargeDeclinedLostCard", "fails: card reported lost (hard decline)"),
		doc("pm_card_chargeDeclinedStolenCard", "fails: card reported stolen (hard decline)"),
		doc("pm_card_chargeDeclinedExpiredCard", "fails: card expired"),
		doc("pm_card_chargeDeclinedIncorrectCvc", "fails: wrong CVC"),
		doc("pm_card_authenticationRequired", "fails: 3-D Secure needed, off-session"),
		doc("pm_card_chargeDeclinedFraudulent", "fails: blocked as fraudulent"),
		doc("pm_card_chargeDeclinedProcessingError", "fails: issuer processing error"),
		doc("pm_card_chargeDeclined", "fails: generic decline"),
		doc("pm_card_chargeCustomerFail", "fails: generic decline"),
		doc("pm_sim_authorization_error", "fails: issuer not reachable"),
		doc("pm_sim_not_supported", "fails: card does not support the purchase"),
		doc("pm_sim_invalid", "fails: wrong card number"),
		doc("pm_sim_do_not_try_again", "fails: issuer says never retry (hard decline)"),
		doc("pm_sim_unknown", "fails: an error code nobody knows"),
		{ID: "pm_sim_fail<N>_then_settle", Status: StatusFailed, ErrorType: ErrProcessingError,
			Code:      "processing_error",
			Behaviour: "the first N charges (distinct idempotency keys) of this payment method and customer fail, later ones settle"},
		{ID: "pm_sim_outage<K>_then_settle", ErrorType: ErrProviderError, Code: "sim_outage",
			Behaviour: "the first K calls per idempotency key get a retryable provider error (HTTP 503, no charge made), then the charge settles"},
		{ID: "pm_sim_bad_credentials", ErrorType: ErrProviderError, Code: "api_key_expired",
			Behaviour: "every call gets a non-retryable provider error (HTTP 401, as with a revoked API key)"},
		doc("pm_sim_sepa_settle", "SEPA direct debit: pending, then a settled event after PAYORCH_SIM_SEPA_DELAY"),
		doc("pm_sim_sepa_fail", "SEPA direct debit: pending, then a failed event (insufficient funds) after PAYORCH_SIM_SEPA_DELAY"),
		doc("pm_sim_sepa_return", "SEPA direct debit: pending, a settled event after PAYORCH_SIM_SEPA_DELAY, then a reversed event (SEPA return MD06) after as long again"),
		{ID: "pm_card_<other>", Status: StatusSettled, Behaviour: "settles, like Stripe's other test cards"},
		{ID: "<any other id>", Status: StatusFailed, ErrorType: ErrPaymentMethodInvalid, HardDecline: true, Code: "resource_missing",
			Behaviour: "fails: no such payment method"},
	}
}
