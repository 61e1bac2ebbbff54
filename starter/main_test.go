package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/api"
	"payorch/config"
	"payorch/contracts"
	"payorch/customers"
	"payorch/ids"
	"payorch/internal/testenv"
	"payorch/internal/testenv/poll"
	"payorch/invoices"
	"payorch/payments"
	"payorch/portal"
	"payorch/webhooks"
	"payorch/workflows"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }

const (
	backendKey = "ctl_backend_key"
	supportKey = "ctl_support_key"
	secret     = "starter-test-secret-0123456789abcdef"
)

// ctl runs one command line as the binary would and returns its exit status, stdout and
// stderr.
func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustCtl runs a command line that must succeed.
func mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := ctl(t, args...)
	if code != 0 {
		t.Fatalf("payorchctl %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// TestOperatorCommands drives every support action of the operator CLI against a real
// API server, database and Temporal dev server: collect, list, state, invoice, retry,
// reconcile, void, cancel, reactivate, revert, portal and redeliver, with --json for
// scripts and one-line errors with a non-zero exit.
func TestOperatorCommands(t *testing.T) {
	pool, dbURL := env.Postgres.NewPool(t)
	queue := "test-starter-" + ids.New("q")
	t.Setenv("PAYORCH_DATABASE_URL", dbURL)
	t.Setenv("PAYORCH_TEMPORAL_ADDRESS", env.TemporalAddress)
	t.Setenv("PAYORCH_TASK_QUEUE", queue)
	t.Setenv("PAYORCH_RETRY_SCHEDULE", "1h,1h,1h")
	t.Setenv("PAYORCH_LOG_LEVEL", "error")
	w := worker.New(env.Temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterWorkflow(workflows.WalletLoad)
	w.RegisterActivity(&activities.Activities{Pool: pool, Provider: payments.NewSimulated(pool, payments.SimulatedOptions{}), Now: time.Now})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	keys, err := config.ParseAPIKeys("backend:" + backendKey + ",support:" + supportKey)
	if err != nil {
		t.Fatal(err)
	}
	sessions := portal.NewSessions(pool, []byte(secret), "https://billing.acme.test/portal", time.Hour, time.Hour)
	srv := httptest.NewServer(api.New(api.Deps{Pool: pool, Temporal: env.Temporal, Keys: keys, TaskQueue: queue,
		RetrySchedule: []time.Duration{time.Hour, time.Hour, time.Hour}, Portal: sessions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	t.Setenv("PAYORCH_API_URL", srv.URL)
	t.Setenv("PAYORCH_API_KEY", supportKey)

	ctx := context.Background()
	cs := customers.NewService(pool)
	cust, err := cs.Create(ctx, customers.CreateInput{Name: "Ops", Email: "ops@example.com", Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	pm, def := "pm_card_chargeDeclined", true
	if _, err := cs.AddPaymentMethod(ctx, cust.ID, customers.PaymentMethodInput{Type: "card", ProviderID: &pm, Default: &def,
		ExpMonth: ptr(int32(12)), ExpYear: ptr(int32(time.Now().Year() + 2))}); err != nil {
		t.Fatal(err)
	}
	// A webhook endpoint on this machine sees the invoice's events; its deliveries are
	// what redeliver sends again.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer hook.Close()
	whs := webhooks.NewService(pool)
	whs.AllowPrivateNetworks = true
	ep, err := whs.Create(ctx, webhooks.CreateInput{URL: hook.URL})
	if err != nil {
		t.Fatal(err)
	}
	newInvoice := func() invoices.Invoice {
		inv, err := invoices.NewService(pool).Create(ctx, invoices.CreateInput{CustomerID: cust.ID,
			Lines: []invoices.LineInput{{Description: "Plan", Amount: "12.00"}}})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	inv := newInvoice()

	if out := mustCtl(t, "collect", inv.ID); !strings.Contains(out, contracts.InvoicePaymentWorkflowID(inv.ID)) {
		t.Fatalf("collect: %s", out)
	}
	var st contracts.PaymentState
	poll.Until(t, 30*time.Second, "payment state retry_scheduled", func() (bool, string) {
		if err := json.Unmarshal([]byte(mustCtl(t, "state", inv.ID)), &st); err != nil {
			t.Fatal(err)
		}
		return st.PaymentStatus == contracts.PaymentRetryScheduled, fmt.Sprintf("%+v", st)
	})
	if st.FailedAttempts != 1 || st.NextRetryAt == nil || st.InvoiceID != inv.ID {
		t.Fatalf("state %+v", st)
	}
	// Visibility is eventually consistent: the list shows the workflow within seconds.
	poll.Until(t, 30*time.Second, "the list to show the invoice", func() (bool, string) {
		out := mustCtl(t, "list", "-status", "retry_scheduled", "-invoice", inv.ID)
		return strings.Contains(out, contracts.InvoicePaymentWorkflowID(inv.ID)) && strings.Contains(out, cust.ID), out
	})
	var rows struct {
		Data []listRow `json:"data"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, "--json", "list", "-invoice", inv.ID)), &rows); err != nil ||
		len(rows.Data) != 1 || rows.Data[0].InvoiceID != inv.ID || rows.Data[0].RunState != "running" {
		t.Fatalf("list --json: %+v (%v)", rows, err)
	}

	// Manual retry through the API (support key), as JSON for a script.
	var o contracts.UpdateOutcome
	if err := json.Unmarshal([]byte(mustCtl(t, "retry", "--json", inv.ID)), &o); err != nil {
		t.Fatal(err)
	}
	if o.Transaction == nil || o.Transaction.Attempt != 2 || o.Transaction.Status != "failed" || o.InvoiceStatus != "to_pay" {
		t.Fatalf("retry outcome %+v", o)
	}
	if out := mustCtl(t, "invoice", inv.ID); !strings.Contains(out, inv.ID+": status to_pay") {
		t.Fatalf("invoice: %q", out)
	}
	// Reconcile the whole amount: the invoice is paid.
	out := mustCtl(t, "reconcile", inv.ID, "-amount", "12.00", "-reference", "BANK-REF-1", "-paid-at", time.Now().UTC().Format(time.RFC3339))
	if !strings.Contains(out, "reconcile "+inv.ID+": invoice paid") {
		t.Fatalf("reconcile: %q", out)
	}
	// Void needs a backend key: with the support key the API's 403 is the one-line error.
	inv2 := newInvoice()
	mustCtl(t, "collect", inv2.ID)
	code, _, errOut := ctl(t, "void", inv2.ID, "-reason", "duplicate")
	if code != 1 || !strings.Contains(errOut, "POST /v1/invoices/"+inv2.ID+"/void: 403") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("void with a support key: exit %d, %q", code, errOut)
	}
	t.Setenv("PAYORCH_API_KEY", backendKey)
	if out := mustCtl(t, "void", inv2.ID, "-reason", "duplicate"); !strings.Contains(out, "invoice voided") {
		t.Fatalf("void: %q", out)
	}

	// Subscriptions: cancel works; reactivating a cancelled one is the API's refusal.
	sub := apiJSON(t, srv.URL, "POST", "/v1/subscriptions", map[string]any{"customer_id": cust.ID, "amount": "30.00",
		"current_period_start": time.Now().UTC().Format(time.RFC3339), "current_period_end": time.Now().Add(720 * time.Hour).UTC().Format(time.RFC3339)})
	subID := sub["id"].(string)
	if out := mustCtl(t, "cancel", subID); !strings.Contains(out, "subscription "+subID+", status cancelled") {
		t.Fatalf("cancel: %q", out)
	}
	code, _, errOut = ctl(t, "reactivate", subID)
	if code != 1 || !strings.HasPrefix(errOut, "payorchctl: POST /v1/subscriptions/"+subID+"/reactivate: 4") {
		t.Fatalf("reactivate a cancelled subscription: exit %d, %q", code, errOut)
	}

	// Revert a free top-up.
	wal := apiJSON(t, srv.URL, "POST", "/v1/wallets", map[string]any{"customer_id": cust.ID})
	walID := wal["id"].(string)
	apiJSON(t, srv.URL, "POST", "/v1/wallets/"+walID+"/load", map[string]any{"amount": "20.00", "type": "free"})
	txs := apiJSON(t, srv.URL, "GET", "/v1/wallets/"+walID+"/transactions", nil)
	txID := txs["data"].([]any)[0].(map[string]any)["id"].(string)
	var reverted map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, "--json", "revert", walID, txID)), &reverted); err != nil || reverted["id"] == txID {
		t.Fatalf("revert --json: %v (%v)", reverted, err)
	}
	if got := apiJSON(t, srv.URL, "GET", "/v1/wallets/"+walID, nil)["balance"]; got != "0.00" && got != "0" {
		t.Fatalf("balance after the revert: %v", got)
	}

	// Portal link: the printed URL's token opens this customer's portal.
	out = mustCtl(t, "portal", cust.ID)
	link := strings.SplitN(out, "\n", 2)[0]
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://billing.acme.test/portal?token=") || !strings.Contains(out, "valid until") {
		t.Fatalf("portal printed %q", out)
	}
	who, err := sessions.Authenticate(ctx, u.Query().Get("token"))
	if err != nil || who.CustomerID != cust.ID {
		t.Fatalf("the printed link opens %+v (%v), want %s", who, err, cust.ID)
	}

	// Redeliver a webhook delivery of the invoice's events.
	if _, err := webhooks.NewDispatcher(pool, slog.New(slog.NewTextHandler(io.Discard, nil))).FanOut(ctx); err != nil {
		t.Fatal(err)
	}
	ds, _, err := whs.ListDeliveries(ctx, ep.ID, webhooks.DeliveryListParams{Limit: 10})
	if err != nil || len(ds) == 0 {
		t.Fatalf("no deliveries to redeliver (%v)", err)
	}
	var d webhooks.Delivery
	if err := json.Unmarshal([]byte(mustCtl(t, "redeliver", ds[0].ID, "--json")), &d); err != nil || d.ID != ds[0].ID || d.Status != "pending" {
		t.Fatalf("redeliver --json: %+v (%v)", d, err)
	}

	// Clear errors: bad arguments are refused before anything is sent (exit 1, one line),
	// an unknown command is a usage error (exit 2), an unknown id is the API's 404.
	for _, bad := range [][]string{{"state", "cus_x"}, {"retry"}, {"retry", "sub_1"}, {"revert", walID}, {"reconcile", inv.ID},
		{"list", "-status", "x'y"}, {"portal", "cus_1/../x"}, {"void", inv.ID, "-nope"}} {
		code, out, errOut := ctl(t, bad...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "payorchctl: "+bad[0]) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("payorchctl %v: exit %d, stdout %q, stderr %q", bad, code, out, errOut)
		}
	}
	if code, _, _ := ctl(t, "frobnicate"); code != 2 {
		t.Errorf("an unknown command exits %d, want 2", code)
	}
	code, _, errOut = ctl(t, "invoice", "inv_nope")
	if code != 1 || !strings.Contains(errOut, "GET /v1/invoices/inv_nope: 404") {
		t.Errorf("unknown invoice: exit %d, %q", code, errOut)
	}
	// An API that is not there names the address it tried.
	t.Setenv("PAYORCH_API_URL", "http://127.0.0.1:1")
	code, _, errOut = ctl(t, "invoice", inv.ID)
	if code != 1 || !strings.Contains(errOut, "GET /v1/invoices/"+inv.ID) {
		t.Errorf("API down: exit %d, %q", code, errOut)
	}
}

// apiJSON sends a request with the backend key to set a scene up and decodes the answer.
func apiJSON(t *testing.T, base, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+backendKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return m
}

func ptr[T any](v T) *T { return &v }
