package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"payorch/contracts"
)

// creditExpiryDB are the options of the expiry's database activity: retried until the
// database answers, failing at once on a ledger refusal (non-retryable errors).
var creditExpiryDB = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	},
}

// CreditExpiry expires one credit durably on time (workflow id credit-expiry/<transaction
// id>): a timer until the credit's expires_at — which survives crashes and deploys, and
// costs nothing while it waits — then ExpireCredit debits what is left of the credit
// (type expiry, wallet.credit_expired), once: a spent or reverted credit is closed with
// nothing debited, and a repeated expiry changes nothing.
func CreditExpiry(ctx workflow.Context, in contracts.CreditExpiryInput) (contracts.CreditExpiryResult, error) {
	if wait := in.ExpiresAt.Sub(workflow.Now(ctx)); wait > 0 {
		workflow.SetCurrentDetails(ctx, "credit "+in.TransactionID+" expires at "+in.ExpiresAt.UTC().Format(time.RFC3339))
		if err := workflow.Sleep(ctx, wait); err != nil {
			return contracts.CreditExpiryResult{TransactionID: in.TransactionID}, err
		}
	}
	workflow.SetCurrentDetails(ctx, "expiring credit "+in.TransactionID)
	var res contracts.CreditExpiryResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, creditExpiryDB), a.ExpireCredit,
		contracts.ExpireCreditInput{TransactionID: in.TransactionID, AsOf: workflow.Now(ctx)}).Get(ctx, &res)
	if err != nil {
		return res, err
	}
	if res.ExpiryTransactionID != "" {
		workflow.SetCurrentDetails(ctx, "expired: "+res.Amount+" debited")
	} else {
		workflow.SetCurrentDetails(ctx, "expired with nothing left ("+res.Skipped+")")
	}
	return res, nil
}
