package app

import (
	"payorch/api"
	"payorch/documents/pdf"
	"payorch/ledger"
	"payorch/payments"
	"payorch/portal"
)

// APIDeps is everything the HTTP API needs, from the process's configuration and
// connections: the task queue and retry schedule workflows start with, the portal limits,
// the API keys and the Stripe webhook secret. Boot with Temporal first.
func (a *App) APIDeps() api.Deps {
	return api.Deps{
		Pool: a.Pool, Temporal: a.Temporal, Keys: a.Config.APIKeys, Logger: a.Log,
		TaskQueue: a.Config.TaskQueue, RetrySchedule: a.Config.RetrySchedule, DunningByErrorType: a.Config.DunningByErrorType,
		DunningMinDelay:     a.Config.DunningMinDelay,
		PortalLimits:        ledger.PortalLimits{MaxLoad: a.Config.PortalMaxLoad, MaxBalance: a.Config.PortalMaxBalance},
		StripeWebhookSecret: a.Config.StripeWebhookSecret, ProviderEvents: a.ProviderEvents(),
		WebhookAllowPrivateNetworks: a.Config.WebhookAllowPrivateNetworks,
		Merchant:                    pdf.Merchant(a.Config.Merchant),
		Portal:                      a.PortalSessions(),
		CardSteps:                   a.CardSteps(),
		StripePublishableKey:        a.Config.StripePublishableKey,
	}
}

// CardSteps are the configured provider's customer-present card steps for the portal
// (nil, logged, when the provider cannot be built).
func (a *App) CardSteps() payments.CardSteps {
	p, err := a.Provider()
	if err != nil {
		a.Log.Warn("portal card steps unavailable", "error", err)
		return nil
	}
	return payments.StepsOf(p)
}

// PortalSessions mints and checks portal tokens with the configured key and lifetimes
// (a process without PAYORCH_PORTAL_SECRET uses a random key and says so).
func (a *App) PortalSessions() *portal.Sessions {
	ps := a.Config.PortalSessions
	if ps.SecretGenerated {
		a.Log.Warn("PAYORCH_PORTAL_SECRET is not set: portal links are signed with a random key that dies with this process and is not shared with the other processes (make run sets one)")
	}
	return portal.NewSessions(a.Pool, ps.Secret, a.Config.PortalURL, ps.TTL, ps.EmailTTL)
}
