// Package metrics holds payorch's Prometheus metrics (names prefixed payorch_) and the one
// place where an outbox event becomes a count: payments by outcome and error_type, and
// wallet movements, are counted from the events the webhook dispatcher fans out (each
// event is fanned out exactly once across every worker, in the transaction that takes
// it off the queue), so no activity, ledger or workflow code carries a metrics call.
//
// Where each family is exported:
//   - API (GET /metrics on the API): payorch_http_requests_total,
//     payorch_http_request_duration_seconds.
//   - worker (PAYORCH_WORKER_METRICS_ADDR): payorch_events_total, payorch_payments_total,
//     payorch_wallet_movements_total, payorch_webhook_deliveries_total,
//     payorch_webhook_delivery_lag_seconds, payorch_sweeper_*, and the Temporal SDK's own
//     metrics (prefixed temporal_, see TemporalHandler).
package metrics

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPRequests counts API requests by method, route pattern (not the raw path, so ids do
// not explode the series) and status.
var HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_http_requests_total",
	Help: "HTTP requests served by the API, by method, route pattern and status code.",
}, []string{"method", "route", "status"})

// HTTPDuration is the latency of API requests by method and route pattern.
var HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "payorch_http_request_duration_seconds",
	Help:    "Latency of API requests, by method and route pattern.",
	Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
}, []string{"method", "route"})

// Events counts the public outbox events by type (invoice.errored rising is an alert).
var Events = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_events_total",
	Help: "Public events written to the outbox, counted when the worker fans them out, by type.",
}, []string{"type"})

// Payments counts invoice payment outcomes: succeeded (an invoice settled) and failed
// (a transaction failed, by its error_type).
var Payments = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_payments_total",
	Help: "Invoice payment outcomes: succeeded (invoice.settled) or failed (invoice.transaction_failed, by error_type).",
}, []string{"outcome", "error_type"})

// WalletMovements counts wallet transactions by movement (credited, debited, reverted)
// and wallet transaction type (credit_paid, credit_free, debit).
var WalletMovements = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_wallet_movements_total",
	Help: "Wallet movements, by movement (credited, debited, reverted, expired, load_reversed) and transaction type.",
}, []string{"movement", "type"})

// WebhookDeliveries counts webhook delivery attempts by result: delivered, retrying (the
// attempt failed, another follows) or failed (retries exhausted).
var WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_webhook_deliveries_total",
	Help: "Webhook delivery attempts, by result: delivered, retrying or failed.",
}, []string{"result"})

// WebhookLag is the time from an event's creation to its successful delivery.
var WebhookLag = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "payorch_webhook_delivery_lag_seconds",
	Help:    "Time from an event's creation to its delivery to an endpoint.",
	Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 72 * 3600},
})

// UnappliedFunds counts provider bank-transfer funding reports that brought money to an
// invoice that is closed (voided, or paid otherwise): the money is at the provider, in the
// customer's balance, and recorded on no invoice (by provider and the invoice's status).
var UnappliedFunds = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payorch_unapplied_funds_total",
	Help: "Provider bank-transfer funding reports of money no invoice records (the invoice was voided or paid otherwise), by provider and invoice status.",
}, []string{"provider", "invoice_status"})

func init() {
	prometheus.MustRegister(HTTPRequests, HTTPDuration, Events, Payments, WalletMovements, WebhookDeliveries, WebhookLag, UnappliedFunds)
}

// Handler serves every registered metric in the Prometheus text format.
func Handler() http.Handler { return promhttp.Handler() }

// ObserveEvent counts one public event that was just fanned out: its type, and what it
// says about payments and wallet movements. data is the event's JSON payload.
func ObserveEvent(eventType string, data []byte) {
	Events.WithLabelValues(eventType).Inc()
	switch eventType {
	case "invoice.settled":
		Payments.WithLabelValues("succeeded", "").Inc()
	case "invoice.transaction_failed":
		Payments.WithLabelValues("failed", lastFailedErrorType(data)).Inc()
	case "wallet.credited", "wallet.debited", "wallet.transaction_reverted", "wallet.credit_expired":
		var tx struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &tx)
		movement := map[string]string{"wallet.credited": "credited", "wallet.debited": "debited",
			"wallet.transaction_reverted": "reverted", "wallet.credit_expired": "expired"}[eventType]
		WalletMovements.WithLabelValues(movement, label(tx.Type)).Inc()
	case "wallet.load_reversed":
		WalletMovements.WithLabelValues("load_reversed", "debit").Inc()
	}
}

// ObserveDelivery counts one webhook delivery attempt's result; a delivered one also
// records its lag from the event's creation.
func ObserveDelivery(result string, eventCreatedAt, now time.Time) {
	WebhookDeliveries.WithLabelValues(result).Inc()
	if result == "delivered" && !eventCreatedAt.IsZero() {
		WebhookLag.Observe(max(now.Sub(eventCreatedAt).Seconds(), 0))
	}
}

// lastFailedErrorType is the error_type of the invoice view's latest failed transaction
// (invoice.transaction_failed carries the invoice with its transactions).
func lastFailedErrorType(data []byte) string {
	var inv struct {
		Transactions []struct {
			Attempt   int32   `json:"attempt"`
			Status    string  `json:"status"`
			ErrorType *string `json:"error_type"`
		} `json:"transactions"`
	}
	if json.Unmarshal(data, &inv) != nil {
		return "unknown"
	}
	et, best := "unknown", int32(-1)
	for _, t := range inv.Transactions {
		if t.Status == "failed" && t.Attempt >= best {
			best = t.Attempt
			if t.ErrorType != nil {
				et = label(*t.ErrorType)
			} else {
				et = "unknown"
			}
		}
	}
	return et
}

// label keeps a label value short and bounded in form (an unexpected value becomes
// "other" rather than a new series per odd string).
func label(v string) string {
	if v == "" {
		return "unknown"
	}
	if len(v) > 64 {
		return "other"
	}
	for _, r := range v {
		if !(r == '_' || r == '.' || r == '-' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return "other"
		}
	}
	return v
}
