package app

import (
	"context"
	"fmt"

	"payorch/apperr"
	"payorch/collection"
	"payorch/ledger"
	"payorch/payments"
)

// Provider returns the payment provider the configuration selects: Stripe when
// STRIPE_SECRET_KEY is set, else the simulated provider on the process's database.
func (a *App) Provider() (payments.Provider, error) {
	return payments.FromConfig(a.Config, a.Pool, a.Log)
}

// ProviderEvents returns the handler of normalized provider events (verified Stripe
// webhooks in the API, simulated SEPA outcomes in the worker): the outcome of a wallet
// load's pending charge resolves the load (ledger.ResolvePendingLoad); any other charge's
// goes to its invoice's payment workflow (collection.EventRouter, which ignores charges
// no workflow waits for). Money received by bank transfer (an event with Funding) is the
// invoice's reconciliation (collection.EventRouter). It needs the Temporal client.
func (a *App) ProviderEvents() payments.EventHandler {
	l := ledger.New(a.Pool)
	router := &collection.EventRouter{Collection: a.Collection()}
	if p, err := a.Provider(); err == nil {
		router.BankTransfers, _ = p.(payments.BankTransfers)
	}
	return payments.EventHandlerFunc(func(ctx context.Context, ev payments.Event) error {
		if ev.Funding != nil {
			// Money received by bank transfer for an invoice (never a wallet load's).
			return router.HandleProviderEvent(ctx, ev)
		}
		// A load's one-off invoice has no payment workflow: try the loads first.
		_, err := l.ResolvePendingLoad(ctx, ev)
		if err == nil || !apperr.IsKind(err, apperr.NotFound) {
			return err
		}
		if loadID := ev.Metadata["load_id"]; loadID != "" {
			// A load's charge whose reference is not recorded yet: the event overtook the
			// load's workflow. Fail, so the provider delivers it again; a load that is no
			// longer pending waits for nothing.
			ld, lerr := l.LoadByID(ctx, loadID)
			if lerr == nil && ld.Status == ledger.LoadPending {
				return fmt.Errorf("provider event %s: wallet load %s has not recorded charge %s yet; deliver it again later", ev.ID, loadID, ev.Reference)
			}
			return nil
		}
		return router.HandleProviderEvent(ctx, ev)
	})
}
