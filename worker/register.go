package main

import (
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/contracts"
	"payorch/internal/app"
	"payorch/payments"
	"payorch/workflows"
)

// register adds every workflow and activity the worker hosts.
// provider is the payment provider (a.Provider(): Stripe or the simulated one).
func register(w worker.Worker, a *app.App, provider payments.Provider) {
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterWorkflow(workflows.WalletLoad)
	w.RegisterWorkflowWithOptions(workflows.WalletAutoTopUp, workflow.RegisterOptions{Name: contracts.WalletAutoTopUpWorkflow})
	w.RegisterWorkflowWithOptions(workflows.CreditExpiry, workflow.RegisterOptions{Name: contracts.CreditExpiryWorkflow})
	// The activities struct is registered once; every activity is one of its methods.
	w.RegisterActivity(&activities.Activities{Pool: a.Pool, Provider: provider, Now: time.Now,
		BankTransfers: payments.BankTransfersFromConfig(a.Config, provider)})
}
