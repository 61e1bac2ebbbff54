package payments

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/money"
	"payorch/store"
)

// The simulated provider's card steps are rows of sim_intents (migration 009): a setup or
// an on-session payment waits (requires_action) until the customer's browser answers the
// simulated form — what Stripe.js does with Stripe — through SubmitSimulatedSetup or
// SubmitSimulatedChallenge; payorch then verifies it with VerifyCardSetup or
// OnSessionPayment, exactly as with Stripe. The rows are durable, and a decided row never
// changes again, so a reload or a second submission finds the first outcome.

// SimulatedTestCard is a card the simulated setup form offers.
type SimulatedTestCard struct {
	// PaymentMethodRef is the Stripe test id ("pm_card_visa").
	PaymentMethodRef string
	// Label describes the card to the customer.
	Label    string
	Brand    string
	Last4    string
	ExpMonth int32
}

// SimulatedTestCards are the cards the simulated setup form offers, with how they behave
// when charged later (see SimulatedPaymentMethods).
var SimulatedTestCards = []SimulatedTestCard{
	{"pm_card_visa", "Visa ending in 4242 (pays)", "visa", "4242", 12},
	{"pm_card_mastercard", "Mastercard ending in 4444 (pays)", "mastercard", "4444", 11},
	{"pm_card_amex", "American Express ending in 8431 (pays)", "amex", "8431", 10},
	{"pm_card_authenticationRequired", "Visa ending in 3184 (asks for 3-D Secure)", "visa", "3184", 9},
	{"pm_card_chargeDeclinedInsufficientFunds", "Visa ending in 9995 (insufficient funds)", "visa", "9995", 8},
	{"pm_card_chargeDeclined", "Visa ending in 0002 (declined)", "visa", "0002", 7},
}

// simTestCard finds a test card by id.
func simTestCard(pm string) (SimulatedTestCard, bool) {
	for _, c := range SimulatedTestCards {
		if c.PaymentMethodRef == pm {
			return c, true
		}
	}
	return SimulatedTestCard{}, false
}

// simIntent is one sim_intents row.
type simIntent struct {
	ID, Kind, ClientSecret, CustomerRef, Status string
	PaymentMethodRef                            *string
	Amount                                      decimal.NullDecimal
	Currency                                    *string
	Metadata                                    []byte
	ErrorMessage                                string
}

const simIntentColumns = `id, kind, client_secret, customer_ref, status, payment_method_ref, amount, currency, metadata, error_message`

func scanSimIntent(row pgx.Row) (simIntent, error) {
	var r simIntent
	err := row.Scan(&r.ID, &r.Kind, &r.ClientSecret, &r.CustomerRef, &r.Status, &r.PaymentMethodRef, &r.Amount, &r.Currency, &r.Metadata, &r.ErrorMessage)
	if store.IsNoRows(err) {
		return r, ErrNoSuchStep
	}
	return r, err
}

// simSecret returns a random hex string of n bytes.
func simSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateCardSetup stores a simulated SetupIntent ("seti_sim_…") for the customer.
func (s *Simulated) CreateCardSetup(ctx context.Context, customerRef string) (CardSetup, error) {
	if strings.TrimSpace(customerRef) == "" {
		return CardSetup{}, fmt.Errorf("%w: a customer is required", ErrInvalidChargeRequest)
	}
	id := "seti_sim_" + simSecret(12)
	secret := id + "_secret_" + simSecret(16)
	if _, err := s.pool.Exec(ctx, `INSERT INTO sim_intents (id, kind, client_secret, customer_ref, status, created_at)
		VALUES ($1, 'setup', $2, $3, 'requires_action', $4)`, id, secret, customerRef, s.opts.Now().UTC()); err != nil {
		return CardSetup{}, simInfraError(err)
	}
	return CardSetup{ID: id, ClientSecret: secret}, nil
}

// SubmitSimulatedSetup is the simulated form's answer, the step Stripe.js takes with
// Stripe: the browser, holding the client secret, saves the chosen test card on the
// setup. A card the form does not offer fails the setup; a decided setup is not changed
// (the same card again is fine, another one is ErrStepMismatch).
func (s *Simulated) SubmitSimulatedSetup(ctx context.Context, setupID, clientSecret, paymentMethodRef string) error {
	failed := ""
	err := store.InTx(ctx, s.pool, func(_ *store.Queries, tx pgx.Tx) error {
		r, err := scanSimIntent(tx.QueryRow(ctx, `SELECT `+simIntentColumns+` FROM sim_intents WHERE id = $1 AND kind = 'setup' FOR UPDATE`, setupID))
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(r.ClientSecret), []byte(clientSecret)) != 1 {
			return fmt.Errorf("%w: the client secret does not belong to setup %s", ErrStepMismatch, setupID)
		}
		if r.Status != "requires_action" {
			if r.Status == "succeeded" && r.PaymentMethodRef != nil && *r.PaymentMethodRef == paymentMethodRef {
				return nil
			}
			return fmt.Errorf("%w: setup %s was already %s", ErrStepMismatch, setupID, r.Status)
		}
		status, msg := "succeeded", ""
		if _, ok := simTestCard(paymentMethodRef); !ok {
			status, msg = "failed", fmt.Sprintf("No such PaymentMethod: '%s'", paymentMethodRef)
		}
		_, err = tx.Exec(ctx, `UPDATE sim_intents SET status = $2, payment_method_ref = $3, error_message = $4, decided_at = $5 WHERE id = $1`,
			setupID, status, paymentMethodRef, msg, s.opts.Now().UTC())
		failed = msg
		return err
	})
	switch {
	case err != nil && !errors.Is(err, ErrNoSuchStep) && !errors.Is(err, ErrStepMismatch):
		return simInfraError(err)
	case err != nil:
		return err
	case failed != "":
		return fmt.Errorf("%w: %s", ErrStepNotSucceeded, failed)
	}
	return nil
}

// VerifyCardSetup checks the simulated setup succeeded for customerRef with
// paymentMethodRef and returns the test card.
func (s *Simulated) VerifyCardSetup(ctx context.Context, setupID, customerRef, paymentMethodRef string) (SavedCard, error) {
	r, err := scanSimIntent(s.pool.QueryRow(ctx, `SELECT `+simIntentColumns+` FROM sim_intents WHERE id = $1 AND kind = 'setup'`, setupID))
	if errors.Is(err, ErrNoSuchStep) {
		return SavedCard{}, fmt.Errorf("%w: setup %s", ErrNoSuchStep, setupID)
	}
	if err != nil {
		return SavedCard{}, simInfraError(err)
	}
	pm := ""
	if r.PaymentMethodRef != nil {
		pm = *r.PaymentMethodRef
	}
	switch {
	case r.Status != "succeeded":
		return SavedCard{}, fmt.Errorf("%w: setup %s is %s", ErrStepNotSucceeded, setupID, r.Status)
	case r.CustomerRef != customerRef:
		return SavedCard{}, fmt.Errorf("%w: setup %s belongs to another customer", ErrStepMismatch, setupID)
	case pm != paymentMethodRef:
		return SavedCard{}, fmt.Errorf("%w: setup %s saved another payment method", ErrStepMismatch, setupID)
	}
	c, _ := simTestCard(pm)
	return SavedCard{PaymentMethodRef: pm, Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: int32(s.opts.Now().UTC().Year() + 4)}, nil
}

// CreateOnSessionPayment stores a simulated on-session payment ("pi_sim_…") waiting for
// the simulated challenge; the same idempotency key returns the same payment (another
// amount, currency, card or customer under it is ErrIdempotencyMismatch).
func (s *Simulated) CreateOnSessionPayment(ctx context.Context, req OnSessionPaymentRequest) (OnSessionPayment, error) {
	cur, _, err := onSessionAmount(req)
	if err != nil {
		return OnSessionPayment{}, err
	}
	md := map[string]string{"amount": money.Format(req.Amount, cur)}
	for k, v := range req.Metadata {
		if k != "amount" {
			md[k] = v
		}
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return OnSessionPayment{}, fmt.Errorf("%w: metadata: %w", ErrInvalidChargeRequest, err)
	}
	id := "pi_sim_" + simSecret(12)
	secret := id + "_secret_" + simSecret(16)
	var out OnSessionPayment
	err = store.InTx(ctx, s.pool, func(_ *store.Queries, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sim_intents (id, kind, client_secret, customer_ref, status, payment_method_ref, amount, currency, idempotency_key, metadata, created_at)
			VALUES ($1, 'payment', $2, $3, 'requires_action', $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING`,
			id, secret, req.CustomerRef, req.PaymentMethodRef, req.Amount, cur, req.IdempotencyKey, meta, s.opts.Now().UTC()); err != nil {
			return err
		}
		r, err := scanSimIntent(tx.QueryRow(ctx, `SELECT `+simIntentColumns+` FROM sim_intents WHERE idempotency_key = $1`, req.IdempotencyKey))
		if err != nil {
			return err
		}
		if out, err = onSessionFromSim(r); err != nil {
			return err
		}
		if !out.Amount.Equal(req.Amount) || out.Currency != cur || out.PaymentMethodRef != req.PaymentMethodRef || out.CustomerRef != req.CustomerRef {
			return fmt.Errorf("%w: key %q was first used for payment %s", ErrIdempotencyMismatch, req.IdempotencyKey, out.ID)
		}
		return nil
	})
	if errors.Is(err, ErrIdempotencyMismatch) {
		return OnSessionPayment{}, &ProviderError{Provider: SimulatedProviderName, Code: "idempotency_error", Err: err}
	}
	if err != nil {
		return OnSessionPayment{}, simInfraError(err)
	}
	return out, nil
}

// SubmitSimulatedChallenge is the customer's answer to the simulated 3-D Secure challenge
// (the step Stripe.js takes with the issuer). Approved, the payment has the outcome its
// card has once authenticated: it succeeds, unless the card declines anyway
// (pm_card_chargeDeclined…); declined, it fails. A decided payment keeps its outcome.
func (s *Simulated) SubmitSimulatedChallenge(ctx context.Context, paymentID, clientSecret string, approve bool) (OnSessionPayment, error) {
	var out OnSessionPayment
	err := store.InTx(ctx, s.pool, func(_ *store.Queries, tx pgx.Tx) error {
		r, err := scanSimIntent(tx.QueryRow(ctx, `SELECT `+simIntentColumns+` FROM sim_intents WHERE id = $1 AND kind = 'payment' FOR UPDATE`, paymentID))
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(r.ClientSecret), []byte(clientSecret)) != 1 {
			return fmt.Errorf("%w: the client secret does not belong to payment %s", ErrStepMismatch, paymentID)
		}
		if r.Status == "requires_action" {
			status, msg := "succeeded", ""
			if !approve {
				status, msg = "failed", "The customer did not approve the payment (authentication failed)."
			} else if b := simBehaviourFor(*r.PaymentMethodRef); b.outcome.Status == StatusFailed && b.outcome.ErrorType != ErrAuthenticationRequired {
				status, msg = "failed", b.outcome.Message
			}
			if _, err := tx.Exec(ctx, `UPDATE sim_intents SET status = $2, error_message = $3, decided_at = $4 WHERE id = $1`,
				paymentID, status, msg, s.opts.Now().UTC()); err != nil {
				return err
			}
			r.Status, r.ErrorMessage = status, msg
		}
		out, err = onSessionFromSim(r)
		return err
	})
	if err != nil && !errors.Is(err, ErrNoSuchStep) && !errors.Is(err, ErrStepMismatch) {
		return OnSessionPayment{}, simInfraError(err)
	}
	return out, err
}

// OnSessionPayment reads a simulated on-session payment.
func (s *Simulated) OnSessionPayment(ctx context.Context, id string) (OnSessionPayment, error) {
	r, err := scanSimIntent(s.pool.QueryRow(ctx, `SELECT `+simIntentColumns+` FROM sim_intents WHERE id = $1 AND kind = 'payment'`, id))
	if errors.Is(err, ErrNoSuchStep) {
		return OnSessionPayment{}, fmt.Errorf("%w: payment %s", ErrNoSuchStep, id)
	}
	if err != nil {
		return OnSessionPayment{}, simInfraError(err)
	}
	return onSessionFromSim(r)
}

func onSessionFromSim(r simIntent) (OnSessionPayment, error) {
	out := OnSessionPayment{ID: r.ID, ClientSecret: r.ClientSecret, Amount: r.Amount.Decimal, CustomerRef: r.CustomerRef, Message: r.ErrorMessage}
	if r.Currency != nil {
		out.Currency = *r.Currency
	}
	if r.PaymentMethodRef != nil {
		out.PaymentMethodRef = *r.PaymentMethodRef
	}
	switch r.Status {
	case "succeeded":
		out.Status = OnSessionSucceeded
	case "failed":
		out.Status = OnSessionFailed
	default:
		out.Status = OnSessionRequiresAction
	}
	if err := json.Unmarshal(r.Metadata, &out.Metadata); err != nil {
		return out, fmt.Errorf("sim intent %s metadata: %w", r.ID, err)
	}
	return out, nil
}
