package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// webhookReceiver is a merchant's endpoint on loopback: it verifies every request with the
// Standard Webhooks reference library, answers 200, and keeps every request it got
// (duplicates included) so the test can count deliveries per webhook-id.
type webhookReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	secret string
	got    []webhookRequest
}

type webhookRequest struct {
	webhookID string
	sigErr    error
	method    string
	msg       struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	dataID     string
	dataStatus string
	parseErr   error
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	rc := &webhookReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve)) // binds 127.0.0.1
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *webhookReceiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *webhookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := webhookRequest{webhookID: r.Header.Get(standardwebhooks.HeaderWebhookID), method: r.Method, parseErr: err}
	rc.mu.Lock()
	secret := rc.secret
	rc.mu.Unlock()
	if secret == "" {
		req.sigErr = fmt.Errorf("request before the endpoint's secret was known")
	} else if wh, err := standardwebhooks.NewWebhook(secret); err != nil {
		req.sigErr = err
	} else {
		req.sigErr = wh.Verify(body, r.Header)
	}
	if req.parseErr == nil {
		req.parseErr = json.Unmarshal(body, &req.msg)
	}
	if req.parseErr == nil {
		var data struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		req.parseErr = json.Unmarshal(req.msg.Data, &data)
		req.dataID, req.dataStatus = data.ID, data.Status
	}
	rc.mu.Lock()
	rc.got = append(rc.got, req)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *webhookReceiver) requests() []webhookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// has reports whether the receiver got at least n requests of each given type.
func (rc *webhookReceiver) has(want map[string]int) bool {
	counts := map[string]int{}
	for _, r := range rc.requests() {
		counts[r.msg.Type]++
	}
	for typ, n := range want {
		if counts[typ] < n {
			return false
		}
	}
	return true
}

// TestInvoiceErrorThenManualRetryWebhooks is issue 6's end-to-end scenario: with a real
// HTTP receiver registered through the API, an invoice of a subscription runs out of
// attempts (invoice.transaction_failed ×4, invoice.errored, subscription.errored), then a
// manual retry through the API pays it (invoice.settled, subscription.activated). Every
// delivery is signed in the Standard Webhooks format with the secret the API returned,
// each event arrives exactly once, and each resource's events arrive in the order written.
func TestInvoiceErrorThenManualRetryWebhooks(t *testing.T) {
	s := newStack(t, "1s,1s,1s", "PAYORCH_OUTBOX_POLL_INTERVAL=200ms")
	s.startWorker()
	rc := newWebhookReceiver(t)

	// Register the receiver for every event type (events omitted).
	var ep struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
		Status string   `json:"status"`
	}
	if code := s.call("POST", "/v1/webhook-endpoints", map[string]any{"url": rc.srv.URL + "/payorch", "description": "e2e"}, &ep); code != 201 {
		t.Fatalf("create webhook endpoint: %d %+v", code, ep)
	}
	if !strings.HasPrefix(ep.Secret, "whsec_") || !slices.Equal(ep.Events, []string{"*"}) {
		t.Fatalf("endpoint %+v: want a whsec_ secret and events [*]", ep)
	}
	rc.setSecret(ep.Secret)

	cust := s.newCustomer("Hooks", "pm_sim_fail4_then_settle")
	now := time.Now().UTC()
	var sub map[string]any
	if code := s.call("POST", "/v1/subscriptions", map[string]any{"customer_id": cust, "amount": "30.00",
		"current_period_start": now.Add(-time.Hour).Format(time.RFC3339),
		"current_period_end":   now.Add(30 * 24 * time.Hour).Format(time.RFC3339)}, &sub); code != 201 {
		t.Fatalf("create subscription: %d %v", code, sub)
	}
	subID := sub["id"].(string)
	var inv map[string]any
	if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust, "subscription_id": subID,
		"lines": []map[string]any{{"description": "Plan", "amount": "30.00"}}}, &inv); code != 201 {
		t.Fatalf("create invoice: %d %v", code, inv)
	}
	invID := inv["id"].(string)

	// Four failed attempts (1 s apart), then error: six events at the receiver.
	s.until("invoice error and its six webhooks", 60*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices WHERE id = $1 AND status = 'error'`, invID) == 1 &&
			rc.has(map[string]int{"invoice.transaction_failed": 4, "invoice.errored": 1, "subscription.errored": 1})
	})
	var subNow map[string]any
	s.call("GET", "/v1/subscriptions/"+subID, nil, &subNow)
	if subNow["status"] != "errored" {
		t.Fatalf("subscription %s after the invoice errored: %v, want errored", subID, subNow["status"])
	}

	// Manual retry: the fifth charge of this customer settles.
	var out struct {
		InvoiceStatus string `json:"invoice_status"`
		Transaction   *struct {
			Status  string `json:"status"`
			Attempt int    `json:"attempt"`
		} `json:"transaction"`
		Invoice struct {
			Status     string `json:"status"`
			AmountPaid string `json:"amount_paid"`
		} `json:"invoice"`
	}
	if code := s.call("POST", "/v1/invoices/"+invID+"/retry", map[string]any{}, &out); code != 200 {
		t.Fatalf("manual retry: %d %+v", code, out)
	}
	if out.InvoiceStatus != "paid" || out.Transaction == nil || out.Transaction.Status != "settled" || out.Invoice.Status != "paid" || out.Invoice.AmountPaid != "30.00" {
		t.Fatalf("manual retry outcome %+v (transaction %+v), want paid with a settled transaction", out, out.Transaction)
	}
	s.until("invoice.settled and subscription.activated webhooks", 30*time.Second, func() bool {
		return rc.has(map[string]int{"invoice.settled": 1, "subscription.activated": 1})
	})

	// Every delivery is recorded delivered, after one attempt: nothing is left to send, so
	// nothing can arrive twice later (a delivered delivery is never sent again).
	s.until("every delivery delivered", 30*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'delivered'`, ep.ID) == 0
	})
	var deliveries struct {
		Data []struct {
			ID             string `json:"id"`
			EventID        string `json:"event_id"`
			EventType      string `json:"event_type"`
			Status         string `json:"status"`
			Attempts       int    `json:"attempts"`
			LastStatusCode *int   `json:"last_status_code"`
		} `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}
	if code := s.call("GET", "/v1/webhook-endpoints/"+ep.ID+"/deliveries?limit=100", nil, &deliveries); code != 200 {
		t.Fatalf("list deliveries: %d", code)
	}
	if deliveries.NextCursor != nil {
		t.Fatalf("more than 100 deliveries")
	}
	for _, d := range deliveries.Data {
		if d.Status != "delivered" || d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 200 {
			t.Errorf("delivery %s (%s %s): status %s after %d attempts (last code %v), want delivered after 1 attempt with 200",
				d.ID, d.EventType, d.EventID, d.Status, d.Attempts, d.LastStatusCode)
		}
	}

	// What the receiver got.
	reqs := rc.requests()
	perID := map[string]int{}
	for _, r := range reqs {
		perID[r.webhookID]++
		if r.method != http.MethodPost {
			t.Errorf("%s: method %s, want POST", r.webhookID, r.method)
		}
		if r.sigErr != nil {
			t.Errorf("%s (%s): signature rejected by the Standard Webhooks library: %v", r.webhookID, r.msg.Type, r.sigErr)
		}
		if r.parseErr != nil {
			t.Errorf("%s: body: %v", r.webhookID, r.parseErr)
		}
		if r.msg.ID != r.webhookID {
			t.Errorf("webhook-id %q but body id %q", r.webhookID, r.msg.ID)
		}
		if r.msg.CreatedAt.IsZero() {
			t.Errorf("%s: no created_at", r.webhookID)
		}
	}
	for id, n := range perID {
		if n != 1 {
			t.Errorf("webhook-id %s delivered %d times, want once", id, n)
		}
	}
	if len(deliveries.Data) != len(perID) {
		t.Errorf("%d deliveries recorded, %d distinct webhook-ids received", len(deliveries.Data), len(perID))
	}

	// Per resource, in the order received (first delivery of each id).
	var invTypes, subTypes, other []string
	var invIDs, subIDs []string
	seen := map[string]bool{}
	for _, r := range reqs {
		if seen[r.webhookID] {
			continue
		}
		seen[r.webhookID] = true
		switch {
		case strings.HasPrefix(r.msg.Type, "invoice."):
			if r.dataID != invID {
				t.Errorf("%s %s: data.id %q, want %s", r.msg.Type, r.webhookID, r.dataID, invID)
			}
			invTypes, invIDs = append(invTypes, r.msg.Type), append(invIDs, r.webhookID)
		case strings.HasPrefix(r.msg.Type, "subscription."):
			if r.dataID != subID {
				t.Errorf("%s %s: data.id %q, want %s", r.msg.Type, r.webhookID, r.dataID, subID)
			}
			subTypes, subIDs = append(subTypes, r.msg.Type), append(subIDs, r.webhookID)
		default:
			other = append(other, r.msg.Type+" "+r.webhookID)
		}
		wantStatus := map[string]string{"invoice.errored": "error", "invoice.settled": "paid",
			"subscription.errored": "errored", "subscription.activated": "active"}[r.msg.Type]
		if wantStatus != "" && r.dataStatus != wantStatus {
			t.Errorf("%s %s: data.status %q, want %q", r.msg.Type, r.webhookID, r.dataStatus, wantStatus)
		}
	}
	if len(other) > 0 {
		t.Errorf("unexpected events (no wallet exists): %v", other)
	}
	wantInv := []string{"invoice.transaction_failed", "invoice.transaction_failed", "invoice.transaction_failed",
		"invoice.transaction_failed", "invoice.errored", "invoice.settled"}
	if !slices.Equal(invTypes, wantInv) {
		t.Errorf("invoice events received %v, want %v", invTypes, wantInv)
	}
	wantSub := []string{"subscription.errored", "subscription.activated"}
	if !slices.Equal(subTypes, wantSub) {
		t.Errorf("subscription events received %v, want %v", subTypes, wantSub)
	}

	// The receiver got exactly the outbox's public events, each resource's in write order.
	for _, c := range []struct {
		resource string
		got      []string
	}{{invID, invIDs}, {subID, subIDs}} {
		written := s.eventIDs(`SELECT id FROM events WHERE resource_id = $1 AND type NOT LIKE 'email.%' ORDER BY seq`, c.resource)
		if !slices.Equal(c.got, written) {
			t.Errorf("%s: received %v, written (seq order) %v", c.resource, c.got, written)
		}
	}
	if n := s.scalar(`SELECT count(*) FROM events WHERE customer_id = $1 AND type NOT LIKE 'email.%'`, cust); n != len(perID) {
		t.Errorf("%d public events written for the customer, %d received", n, len(perID))
	}
}

// eventIDs returns the first column of a query's rows.
func (s *stack) eventIDs(query string, args ...any) []string {
	s.t.Helper()
	rows, err := s.pool.Query(s.t.Context(), query, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}
