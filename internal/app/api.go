package app

import (
	"payorch/api"
	"payorch/documents/pdf"
	"payorch/ledger"
)

// APIDeps is everything the HTTP API needs, from the process's configuration and
// connections: the task queue and retry schedule workflows start with, the portal limits,
// the API keys and the Stripe webhook secret. Boot with Temporal first.
func (a *App) APIDeps() api.Deps {
	return api.Deps{
		Pool: a.Pool, Temporal: a.Temporal, Keys: a.Config.APIKeys, Logger: a.Log,
		TaskQueue: a.Config.TaskQueue, RetrySchedule: a.Config.RetrySchedule,
		PortalLimits:        ledger.PortalLimits{MaxLoad: a.Config.PortalMaxLoad, MaxBalance: a.Config.PortalMaxBalance},
		StripeWebhookSecret: a.Config.StripeWebhookSecret, ProviderEvents: a.ProviderEvents(),
		Merchant: pdf.Merchant(a.Config.Merchant),
	}
}
