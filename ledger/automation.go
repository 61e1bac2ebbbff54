package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/customers"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/store"
)

// Wallet automation (DESIGN.md "Wallet automation"): the auto top-up and the low-balance
// alert. Both are decided here, with the wallet row locked, in the transaction that
// changes what they watch; migrations/013_wallet_automation.sql holds their state.

// AutoTopUpFailureLimit is how many auto loads in a row may fail before the auto top-up
// switches itself off.
const AutoTopUpFailureLimit = 3

// Kinds of auto load (wallet_loads.auto_top_up).
const (
	// AutoTopUpBelow: a debit left the balance under the setting's below.
	AutoTopUpBelow = "below"
	// AutoTopUpMonthly: the wallet's monthly schedule.
	AutoTopUpMonthly = "monthly"
)

// Auto top-up statuses.
const (
	AutoTopUpActive   = "active"
	AutoTopUpDisabled = "disabled"
)

// AutoTopUp is a wallet's auto top-up, as the API returns it.
type AutoTopUp struct {
	// Below: a debit that leaves the balance under it starts a paid load of Amount (null:
	// only the monthly load).
	Below *string `json:"below"`
	// Amount is what each auto load charges.
	Amount string `json:"amount"`
	// MonthlyOn is the day of the month (1-28, UTC) a paid load of Amount is made (null: none).
	MonthlyOn *int `json:"monthly_on"`
	// Status is active, or disabled after AutoTopUpFailureLimit failed auto loads in a row
	// (setting it again turns it back on).
	Status string `json:"status"`
	// ConsecutiveFailures counts the auto loads that failed since the last that settled.
	ConsecutiveFailures int        `json:"consecutive_failures"`
	DisabledAt          *time.Time `json:"disabled_at"`
	// LastError says why the last auto load failed.
	LastError *string `json:"last_error"`
}

// AutoTopUpInput is the auto_top_up setting of a create or PATCH body.
type AutoTopUpInput struct {
	Below     *string `json:"below"`
	Amount    string  `json:"amount"`
	MonthlyOn *int    `json:"monthly_on"`
}

// OptionalAutoTopUp is a settings field that may be absent (keep), null (remove) or an
// object (set).
type OptionalAutoTopUp struct {
	Set   bool
	Value *AutoTopUpInput
}

// UnmarshalJSON records that the field was given; null removes the setting.
func (o *OptionalAutoTopUp) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Value = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v AutoTopUpInput
	if err := dec.Decode(&v); err != nil {
		return apperr.InvalidParam("settings.auto_top_up", "parameter_invalid",
			"auto_top_up must be null or an object {\"below\", \"amount\", \"monthly_on\"}: "+err.Error())
	}
	o.Value = &v
	return nil
}

// OptionalAmount is an amount setting that may be absent (keep), null (remove) or a
// decimal string (set).
type OptionalAmount struct {
	Set   bool
	Value *string
}

// UnmarshalJSON records that the field was given; null removes the setting.
func (o *OptionalAmount) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Value = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return apperr.InvalidParam("settings.alert_below", "parameter_invalid_type", "alert_below must be null or a decimal string")
	}
	o.Value = &s
	return nil
}

// autoTopUpSetting is a validated auto top-up (all null: off).
type autoTopUpSetting struct {
	below, amount decimal.NullDecimal
	monthlyOn     *int16
}

// parseAutoTopUp validates an auto_top_up setting in the wallet's currency: amount
// positive, below positive if given, monthly_on 1-28 if given, and at least one of below
// and monthly_on. nil turns it off.
func parseAutoTopUp(in *AutoTopUpInput, currency string) (autoTopUpSetting, error) {
	var s autoTopUpSetting
	if in == nil {
		return s, nil
	}
	amount, err := money.ParseAmountParam(in.Amount, currency, false)
	if err != nil {
		return s, paramOf(err, "settings.auto_top_up.amount")
	}
	s.amount = decimal.NullDecimal{Decimal: amount, Valid: true}
	if in.Below != nil {
		below, err := money.ParseAmountParam(*in.Below, currency, false)
		if err != nil {
			return s, paramOf(err, "settings.auto_top_up.below")
		}
		s.below = decimal.NullDecimal{Decimal: below, Valid: true}
	}
	if in.MonthlyOn != nil {
		if *in.MonthlyOn < 1 || *in.MonthlyOn > 28 {
			return s, apperr.InvalidParam("settings.auto_top_up.monthly_on", "parameter_invalid", "monthly_on must be a day of the month from 1 to 28")
		}
		d := int16(*in.MonthlyOn)
		s.monthlyOn = &d
	}
	if !s.below.Valid && s.monthlyOn == nil {
		return s, apperr.InvalidParam("settings.auto_top_up", "parameter_missing", "auto_top_up needs below, monthly_on or both")
	}
	return s, nil
}

// paramOf names param in a typed validation error.
func paramOf(err error, param string) error {
	if e, ok := apperr.As(err); ok {
		c := *e
		c.Param = param
		return &c
	}
	return err
}

// applyAutomationSettings writes the auto_top_up and alert_below settings that in gives,
// in q's transaction with the wallet row locked, then evaluates the alert at once (a new
// threshold above the projected balance alerts now).
func (l *Ledger) applyAutomationSettings(ctx context.Context, q *store.Queries, w store.Wallet, in *SettingsInput) error {
	if in == nil {
		return nil
	}
	if in.AutoTopUp.Set {
		s, err := parseAutoTopUp(in.AutoTopUp.Value, w.Currency)
		if err != nil {
			return err
		}
		if _, err := q.SetWalletAutoTopUp(ctx, store.SetWalletAutoTopUpParams{
			ID: w.ID, Below: s.below, Amount: s.amount, MonthlyOn: s.monthlyOn}); err != nil {
			return fmt.Errorf("set auto top-up: %w", err)
		}
	}
	if in.AlertBelow.Set {
		var alert decimal.NullDecimal
		if in.AlertBelow.Value != nil {
			d, err := money.ParseAmountParam(*in.AlertBelow.Value, w.Currency, true)
			if err != nil {
				return paramOf(err, "settings.alert_below")
			}
			alert = decimal.NullDecimal{Decimal: d, Valid: true}
		}
		if _, err := q.SetWalletAlertBelow(ctx, store.SetWalletAlertBelowParams{ID: w.ID, AlertBelow: alert}); err != nil {
			return fmt.Errorf("set alert_below: %w", err)
		}
		if _, err := l.automateTx(ctx, q, w.ID, false); err != nil {
			return err
		}
	}
	return nil
}

// AutomationOutcome is what the wallet automation did after a balance change.
type AutomationOutcome struct {
	// AutoTopUpLoadID is the pending auto load this change requested (empty: none).
	AutoTopUpLoadID string
	// BalanceLowAlerted is true when wallet.balance_low was emitted.
	BalanceLowAlerted bool
}

// AfterDebitTx runs the wallet automation after a debit of walletID, in the debit's
// transaction q (call it right after the debit, which holds the wallet row lock): the
// low-balance alert (CheckBalanceAlert's rule) and the auto top-up — a balance left under
// its below, with no auto load in flight, writes one pending paid load of its amount
// (kind below) for the worker's sweeper to start. Two such loads in flight for one wallet
// are impossible whatever the concurrency: the wallet row lock serialises the check and
// a partial unique index (wallet_loads_one_auto_top_up) refuses a second. With no usable
// automated payment method, nothing is loaded and no failure is counted (no load was
// attempted); the reason is kept in the auto top-up's last_error.
func (l *Ledger) AfterDebitTx(ctx context.Context, q *store.Queries, walletID string) (AutomationOutcome, error) {
	return l.automateTx(ctx, q, walletID, true)
}

// CheckBalanceAlertTx evaluates the low-balance alert of a customer's wallet in q's
// transaction, after a change of what the projected balance counts (a credit, an invoice,
// usage). It locks the wallet row; a customer without a wallet is no error.
func (l *Ledger) CheckBalanceAlertTx(ctx context.Context, q *store.Queries, customerID string) error {
	w, err := q.LockWalletByCustomer(ctx, customerID)
	if store.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock wallet: %w", err)
	}
	_, err = l.checkAlert(ctx, q, w)
	return err
}

// automateTx locks the wallet, evaluates its alert and, after a debit, its auto top-up.
func (l *Ledger) automateTx(ctx context.Context, q *store.Queries, walletID string, debited bool) (AutomationOutcome, error) {
	var out AutomationOutcome
	// The lock comes first, in its own statement: the projected balance is then read
	// with a snapshot taken after every earlier holder of the lock committed.
	w, err := lockWallet(ctx, q, walletID)
	if err != nil {
		return out, err
	}
	if out.BalanceLowAlerted, err = l.checkAlert(ctx, q, w); err != nil {
		return out, err
	}
	if debited {
		out.AutoTopUpLoadID, err = l.requestBelowTopUp(ctx, q, w)
	}
	return out, err
}

// checkAlert applies the low-balance alert rule to the locked wallet w: wallet.balance_low
// once when the projected balance (WalletProjectedBalance, the one definition) is under
// alert_below, and not again until it has climbed back above it (balance_low, the state).
func (l *Ledger) checkAlert(ctx context.Context, q *store.Queries, w store.Wallet) (bool, error) {
	if !w.AlertBelow.Valid {
		return false, nil
	}
	projected, err := q.WalletProjectedBalance(ctx, w.ID)
	if err != nil {
		return false, fmt.Errorf("projected balance: %w", err)
	}
	low := w.BalanceLow
	switch {
	case !w.BalanceLow && projected.LessThan(w.AlertBelow.Decimal):
		low = true
	case w.BalanceLow && projected.GreaterThan(w.AlertBelow.Decimal):
		low = false // re-armed
	}
	if low == w.BalanceLow {
		return false, nil
	}
	if err := q.SetWalletBalanceLow(ctx, store.SetWalletBalanceLowParams{ID: w.ID, BalanceLow: low}); err != nil {
		return false, fmt.Errorf("set balance_low: %w", err)
	}
	if !low {
		return false, nil
	}
	w.BalanceLow = true
	if _, err := outbox.Emit(ctx, q, outbox.Event{
		Type: outbox.WalletBalanceLow, ResourceType: "wallet", ResourceID: w.ID,
		CustomerID: w.CustomerID, Data: walletView(w, projected),
	}); err != nil {
		return false, err
	}
	return true, nil
}

// autoTopUpActive reports whether w's auto top-up is set and not switched off.
func autoTopUpActive(w store.Wallet) bool {
	return w.AutoTopUpAmount.Valid && w.AutoTopUpDisabledAt == nil
}

// requestBelowTopUp writes the pending auto load of a wallet left under its below.
func (l *Ledger) requestBelowTopUp(ctx context.Context, q *store.Queries, w store.Wallet) (string, error) {
	if !autoTopUpActive(w) || !w.AutoTopUpBelow.Valid || !w.Balance.LessThan(w.AutoTopUpBelow.Decimal) {
		return "", nil
	}
	pending, err := q.HasPendingAutoTopUp(ctx, w.ID)
	if err != nil {
		return "", fmt.Errorf("pending auto top-up: %w", err)
	}
	if pending {
		return "", nil // one at a time
	}
	return l.createAutoLoad(ctx, q, w, AutoTopUpBelow, nil)
}

// createAutoLoad writes a pending auto load of w's amount on the customer's automated
// payment method; with none usable, it writes none and counts no failure (last_error says
// why). "" and no error: nothing
// was written (no method, or the unique index found the load already there).
func (l *Ledger) createAutoLoad(ctx context.Context, q *store.Queries, w store.Wallet, kind string, period *string) (string, error) {
	pm, err := l.automatedPaymentMethod(ctx, q, w.CustomerID)
	if e, ok := apperr.As(err); ok && e.Kind == apperr.Rule {
		// No load was attempted, so no failed load is counted (three small invoices would
		// otherwise switch the auto top-up off with an email about three failed loads): the
		// reason is kept in last_error, and the next debit under below loads once the
		// customer has a usable method.
		if err := q.NoteAutoTopUpProblem(ctx, store.NoteAutoTopUpProblemParams{ID: w.ID, LastError: &e.Message}); err != nil {
			return "", fmt.Errorf("note auto top-up problem: %w", err)
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	row, err := q.CreateAutoTopUpLoad(ctx, store.CreateAutoTopUpLoadParams{
		ID: ids.New(ids.Load), WalletID: w.ID, CustomerID: w.CustomerID, Amount: w.AutoTopUpAmount.Decimal,
		Currency: w.Currency, PaymentMethodID: &pm.ID, AutoTopUp: &kind, Period: period,
	})
	if store.IsNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("create auto load: %w", err)
	}
	return row.ID, nil
}

// AutoTopUpDisabledEvent is the data of the payment_method.errored event emitted when the
// auto top-up switches itself off: the method the auto loads were charged to (as it now
// stands), why the last one failed, and the wallet.
type AutoTopUpDisabledEvent struct {
	customers.PaymentMethodErroredEvent
	// Reason is auto_top_up_disabled.
	Reason   string `json:"reason"`
	WalletID string `json:"wallet_id"`
	// Failures is how many auto loads failed in a row.
	Failures int `json:"failures"`
}

// AutoTopUpDisabledEmail is the data of outbox.EmailAutoTopUpDisabled (mail.AutoTopUpDisabledData).
type AutoTopUpDisabledEmail struct {
	WalletID string `json:"wallet_id"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Failures int    `json:"failures"`
	Reason   string `json:"reason"`
}

// autoLoadOutcomeTx applies an auto load's outcome to its wallet's auto top-up, in the
// transaction that completes the load: a settled one resets the failure count (unless the
// auto load before it was reversed: ReverseLoad counted that one as a failure), a failed
// one counts (and the limit-th switches the auto top-up off).
func (l *Ledger) autoLoadOutcomeTx(ctx context.Context, q *store.Queries, ld store.WalletLoad, pm store.PaymentMethod) error {
	if ld.AutoTopUp == nil {
		return nil
	}
	if ld.Status == LoadSettled {
		// After a reversed auto load (a returned direct debit counts as a failure), the next
		// settlement does not reset the count: a bouncing mandate settles every time before
		// it is returned, and would otherwise never reach the limit.
		reversed, err := q.PreviousAutoLoadReversed(ctx, store.PreviousAutoLoadReversedParams{WalletID: ld.WalletID, LoadID: ld.ID})
		if err != nil {
			return fmt.Errorf("previous auto load reversed: %w", err)
		}
		if reversed {
			return nil
		}
		if err := q.ResetAutoTopUpFailures(ctx, ld.WalletID); err != nil {
			return fmt.Errorf("reset auto top-up failures: %w", err)
		}
		return nil
	}
	if ld.Status != LoadFailed {
		return nil
	}
	if _, err := lockWallet(ctx, q, ld.WalletID); err != nil {
		return err
	}
	why := "the auto load failed"
	if ld.ErrorType != nil {
		why += " (" + *ld.ErrorType + ")"
	}
	if ld.ErrorMessage != nil {
		why += ": " + *ld.ErrorMessage
	}
	return l.recordAutoTopUpFailure(ctx, q, ld.WalletID, why, deref(ld.ErrorType), &pm, deref(ld.InvoiceID))
}

// recordAutoTopUpFailure counts a failed auto load of a locked wallet; the limit-th in a
// row switches the auto top-up off, with payment_method.errored (when there is a method
// to name) and an email to the customer.
func (l *Ledger) recordAutoTopUpFailure(ctx context.Context, q *store.Queries, walletID, why, errorType string, pm *store.PaymentMethod, invoiceID string) error {
	w, err := q.RecordAutoTopUpFailure(ctx, store.RecordAutoTopUpFailureParams{ID: walletID, LastError: &why, Lim: AutoTopUpFailureLimit})
	if store.IsNoRows(err) {
		return nil // switched off or removed meanwhile
	}
	if err != nil {
		return fmt.Errorf("record auto top-up failure: %w", err)
	}
	if w.AutoTopUpDisabledAt == nil {
		return nil
	}
	if pm != nil {
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.PaymentMethodErrored, ResourceType: "payment_method", ResourceID: pm.ID, CustomerID: w.CustomerID,
			Data: AutoTopUpDisabledEvent{
				PaymentMethodErroredEvent: customers.PaymentMethodErroredEvent{
					PaymentMethod: customers.PaymentMethodView(*pm), ErrorType: errorType, InvoiceID: invoiceID},
				Reason: "auto_top_up_disabled", WalletID: w.ID, Failures: int(w.AutoTopUpFailures),
			},
		}); err != nil {
			return err
		}
	}
	_, err = outbox.Emit(ctx, q, outbox.Event{
		Type: outbox.EmailAutoTopUpDisabled, ResourceType: "wallet", ResourceID: w.ID, CustomerID: w.CustomerID,
		Data: AutoTopUpDisabledEmail{WalletID: w.ID, Amount: money.Format(w.AutoTopUpAmount.Decimal, w.Currency),
			Currency: w.Currency, Failures: int(w.AutoTopUpFailures), Reason: why},
	})
	return err
}

// MonthlyTopUp is what RequestMonthlyTopUp did.
type MonthlyTopUp struct {
	// Load is the month's auto load (zero when none was made).
	Load Load `json:"load"`
	// Skipped says why no load was made (auto_top_up_off, no_monthly_load,
	// auto_top_up_disabled, no_automated_payment_method, auto_load_pending). With
	// auto_load_pending, Load is the wallet's auto load already in flight (a below-triggered
	// one, or an earlier month's), not a load for this month.
	Skipped string `json:"skipped,omitempty"`
}

// AutoLoadPending is MonthlyTopUp.Skipped when the wallet already has its one auto load in
// flight: no monthly load is made beside it.
const AutoLoadPending = "auto_load_pending"

// RequestMonthlyTopUp makes the monthly auto load of a wallet for the month of at (UTC),
// once per wallet and month (a second call returns the first load): a pending paid load of
// the auto top-up's amount for the WalletLoad workflow, portal limits not applied. A wallet
// whose auto top-up has no monthly_on or is switched off gets none. A wallet has one auto
// load in flight at most, whatever its kind: with one still pending, that load is answered
// (Skipped auto_load_pending) and none is made for this month.
func (l *Ledger) RequestMonthlyTopUp(ctx context.Context, walletID string, at time.Time) (MonthlyTopUp, error) {
	var out MonthlyTopUp
	period := at.UTC().Format("2006-01")
	err := l.inTx(ctx, func(q *store.Queries) error {
		w, err := lockWallet(ctx, q, walletID)
		if err != nil {
			return err
		}
		prev, err := q.GetMonthlyAutoTopUpLoad(ctx, store.GetMonthlyAutoTopUpLoadParams{WalletID: w.ID, Period: &period})
		if err == nil {
			out.Load = loadView(prev, nil, nil)
			return nil
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("get monthly load: %w", err)
		}
		switch {
		case !w.AutoTopUpAmount.Valid:
			out.Skipped = "auto_top_up_off"
			return nil
		case w.AutoTopUpMonthlyOn == nil:
			out.Skipped = "no_monthly_load"
			return nil
		case w.AutoTopUpDisabledAt != nil:
			out.Skipped = AutoTopUpDisabled
			return nil
		}
		// One auto load in flight per wallet: a below-triggered one (or an earlier month's)
		// still pending is answered instead, so the run makes sure it is being charged; no
		// load is made for this month.
		if pending, err := q.GetPendingAutoTopUpLoad(ctx, w.ID); err == nil {
			out.Load = loadView(pending, nil, nil)
			out.Skipped = AutoLoadPending
			return nil
		} else if !store.IsNoRows(err) {
			return fmt.Errorf("pending auto load: %w", err)
		}
		id, err := l.createAutoLoad(ctx, q, w, AutoTopUpMonthly, &period)
		if err != nil {
			return err
		}
		if id == "" {
			out.Skipped = "no_automated_payment_method"
			return nil
		}
		row, err := q.GetWalletLoad(ctx, id)
		if err != nil {
			return fmt.Errorf("get load: %w", err)
		}
		out.Load = loadView(row, nil, nil)
		return nil
	})
	return out, err
}

// UnstartedAutoLoads lists auto loads whose WalletLoad workflow has not claimed them:
// every below-triggered one, and monthly ones older than grace.
func (l *Ledger) UnstartedAutoLoads(ctx context.Context, grace time.Duration, limit int) ([]Load, error) {
	rows, err := store.New(l.pool).UnstartedAutoTopUpLoads(ctx, store.UnstartedAutoTopUpLoadsParams{
		GraceSeconds: grace.Seconds(), Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list unstarted auto loads: %w", err)
	}
	out := make([]Load, 0, len(rows))
	for _, r := range rows {
		out = append(out, loadView(r, nil, nil))
	}
	return out, nil
}

func autoTopUpView(w store.Wallet) *AutoTopUp {
	if !w.AutoTopUpAmount.Valid {
		return nil
	}
	v := &AutoTopUp{Amount: money.Format(w.AutoTopUpAmount.Decimal, w.Currency), Status: AutoTopUpActive,
		ConsecutiveFailures: int(w.AutoTopUpFailures), LastError: w.AutoTopUpLastError}
	if w.AutoTopUpBelow.Valid {
		s := money.Format(w.AutoTopUpBelow.Decimal, w.Currency)
		v.Below = &s
	}
	if w.AutoTopUpMonthlyOn != nil {
		d := int(*w.AutoTopUpMonthlyOn)
		v.MonthlyOn = &d
	}
	if w.AutoTopUpDisabledAt != nil {
		t := w.AutoTopUpDisabledAt.UTC()
		v.Status, v.DisabledAt = AutoTopUpDisabled, &t
	}
	return v
}

func alertBelowView(w store.Wallet) *string {
	if !w.AlertBelow.Valid {
		return nil
	}
	s := money.Format(w.AlertBelow.Decimal, w.Currency)
	return &s
}
