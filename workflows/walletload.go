package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"payorch/contracts"
	"payorch/steps"
)

// walletLoadDB are the options of the load's database activities: short, retried until
// the database answers, failing at once on a ledger refusal (non-retryable errors).
var walletLoadDB = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	},
}

// walletLoadCharge are the options of the charge: provider infrastructure failures are
// retried with backoff (the idempotency key makes every retry safe) for at most
// walletLoadChargeWindow, well inside the day a PSP keeps idempotency keys.
var walletLoadCharge = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: walletLoadChargeWindow,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
	},
}

// Changes to the released WalletLoad workflow, each a workflow.GetVersion change id (see
// README "Changing a workflow"); never remove one while a history that lacks it may be open.
const (
	// changeLoadSearchStatus: the load's outcome is upserted into PaymentStatus when the
	// workflow ends (a new command). Histories without its marker end without it.
	changeLoadSearchStatus = "load-payment-status-search-attribute"
)

// setLoadSearchStatus sets PaymentStatus to the load's status (pending, settled, failed), so
// an operator filtering a customer's top-ups in the Web UI sees how each ended.
func setLoadSearchStatus(ctx workflow.Context, status string) {
	if status == "" || workflow.GetVersion(ctx, changeLoadSearchStatus, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, contracts.SearchPaymentStatus.ValueSet(status)); err != nil {
		workflow.GetLogger(ctx).Warn("PaymentStatus not upserted", "status", status, "error", err)
	}
}

// walletLoadChargeWindow is how long an unreachable provider is retried before the load
// fails with provider_error.
const walletLoadChargeWindow = 6 * time.Hour

// chargeGaveUpMessage is the error_message of a load whose charge gave up: what the
// provider said (or that it stayed unreachable), never the engine's wrapping of it
// ("activity error (type: …, scheduledEventID: …)"), which means nothing to a customer.
func chargeGaveUpMessage(err error) string {
	if temporal.IsTimeoutError(err) {
		return "the payment provider could not be reached for " + walletLoadChargeWindow.String() + "; nothing was charged"
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return "the charge could not be made: " + appErr.Message() + "; nothing was charged"
	}
	return "the charge could not be made; nothing was charged"
}

// WalletLoad charges a paid wallet load and credits the wallet only when the charge
// settles (workflow id wallet-load/<load_id>):
//
//  1. PrepareWalletLoad creates the load's one-off invoice (once); a load that is no
//     longer pending ends the workflow (a replayed or duplicate run changes nothing);
//  2. ChargeWalletLoad charges the customer's payment method with the idempotency key
//     <load_id>:charge — a decline is a result; provider outages are retried with backoff;
//  3. CompleteWalletLoad records the outcome in one database transaction, at most once:
//     settled → credit, invoice paid, receipt, events; failed → nothing credited;
//     pending (direct debit) → the provider's event settles it later.
//
// A crash anywhere replays to the same charge (same key, same provider result) and the
// same single credit.
func WalletLoad(ctx workflow.Context, in contracts.WalletLoadInput) (contracts.WalletLoadResult, error) {
	db := workflow.WithActivityOptions(ctx, walletLoadDB)
	var load contracts.WalletLoadResult
	if err := workflow.ExecuteActivity(db, a.PrepareWalletLoad, in).Get(ctx, &load); err != nil {
		return load, err
	}
	if load.Status != "pending" {
		setLoadSearchStatus(ctx, load.Status)
		return load, nil
	}
	workflow.SetCurrentDetails(ctx, "charging "+load.Amount+" "+load.Currency+" for load "+in.LoadID)

	chargeOpts := walletLoadCharge
	chargeOpts.Summary = "charge " + load.Amount + " " + load.Currency
	var res steps.LoadCharge
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, chargeOpts), a.ChargeWalletLoad, in).Get(ctx, &res)
	if err != nil {
		if temporal.IsCanceledError(err) {
			return load, err
		}
		// The provider stayed unreachable for the whole window, or refused the request as
		// one no retry can fix: nothing was captured under this key; the load fails.
		workflow.GetLogger(ctx).Warn("wallet load charge gave up", "load_id", in.LoadID, "error", err)
		res = steps.LoadCharge{Status: "failed", ErrorType: errProviderError, Message: chargeGaveUpMessage(err)}
	}

	workflow.SetCurrentDetails(ctx, "recording the charge outcome ("+res.Status+")")
	complete := steps.CompleteWalletLoadInput{LoadID: in.LoadID, Result: res}
	if err := workflow.ExecuteActivity(db, a.CompleteWalletLoad, complete).Get(ctx, &load); err != nil {
		return load, err
	}
	workflow.SetCurrentDetails(ctx, "load "+load.Status)
	setLoadSearchStatus(ctx, load.Status)
	return load, nil
}
