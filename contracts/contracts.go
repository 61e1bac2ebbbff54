// Package contracts is the one place for the names shared by the API, the starter CLI and
// the workers: workflow types and ids, signal, update and query names, and the search
// attributes operators filter on in the Temporal Web UI. It holds no logic.
package contracts

import "go.temporal.io/sdk/temporal"

// Search attributes registered on the Temporal namespace (make run and the test harness
// register them) and kept current by the workflows.
var (
	// SearchCustomerID is the invoice's customer (Keyword).
	SearchCustomerID = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	// SearchInvoiceID is the invoice (Keyword).
	SearchInvoiceID = temporal.NewSearchAttributeKeyKeyword("InvoiceId")
	// SearchSubscriptionID is the invoice's subscription, if any (Keyword).
	SearchSubscriptionID = temporal.NewSearchAttributeKeyKeyword("SubscriptionId")
	// SearchPaymentStatus is the payment's status: collecting, retry_scheduled,
	// awaiting_action, awaiting_transfer, processing, errored, paid, voided (Keyword).
	SearchPaymentStatus = temporal.NewSearchAttributeKeyKeyword("PaymentStatus")
	// SearchNextRetryAt is when the next automatic attempt runs (Datetime).
	SearchNextRetryAt = temporal.NewSearchAttributeKeyTime("NextRetryAt")
)

// SearchAttributeFlags are the dev-server flags that register the search attributes.
var SearchAttributeFlags = []string{
	"--search-attribute", "CustomerId=Keyword",
	"--search-attribute", "InvoiceId=Keyword",
	"--search-attribute", "SubscriptionId=Keyword",
	"--search-attribute", "PaymentStatus=Keyword",
	"--search-attribute", "NextRetryAt=Datetime",
}
