package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/contracts"
	"payorch/customers"
	"payorch/ids"
	"payorch/internal/testenv"
	"payorch/internal/testenv/poll"
	"payorch/invoices"
	"payorch/payments"
	"payorch/workflows"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }

// TestOperatorCommands drives the operator CLI against a real database and Temporal dev
// server: collect an invoice, list it by status, read its state, retry it.
func TestOperatorCommands(t *testing.T) {
	pool, url := env.Postgres.NewPool(t)
	queue := "test-starter-" + ids.New("q")
	t.Setenv("PAYORCH_DATABASE_URL", url)
	t.Setenv("PAYORCH_TEMPORAL_ADDRESS", env.TemporalAddress)
	t.Setenv("PAYORCH_TASK_QUEUE", queue)
	t.Setenv("PAYORCH_RETRY_SCHEDULE", "1h,1h,1h")
	t.Setenv("PAYORCH_LOG_LEVEL", "error")
	w := worker.New(env.Temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterActivity(&activities.Activities{Pool: pool, Provider: payments.NewSimulated(pool, payments.SimulatedOptions{})})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

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
	inv, err := invoices.NewService(pool).Create(ctx, invoices.CreateInput{CustomerID: cust.ID,
		Lines: []invoices.LineInput{{Description: "Plan", Amount: "12.00"}}})
	if err != nil {
		t.Fatal(err)
	}

	run := func(cmd string, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := withApp(ctx, cmd, args, &out); err != nil {
			t.Fatalf("starter %s %v: %v", cmd, args, err)
		}
		return out.String()
	}
	if out := run("collect", inv.ID); !strings.Contains(out, contracts.InvoicePaymentWorkflowID(inv.ID)) {
		t.Fatalf("collect: %s", out)
	}
	var st contracts.PaymentState
	poll.Until(t, 30*time.Second, "payment state retry_scheduled", func() (bool, string) {
		if err := json.Unmarshal([]byte(run("state", inv.ID)), &st); err != nil {
			t.Fatal(err)
		}
		return st.PaymentStatus == contracts.PaymentRetryScheduled, fmt.Sprintf("%+v", st)
	})
	if st.FailedAttempts != 1 || st.NextRetryAt == nil || st.InvoiceID != inv.ID {
		t.Fatalf("state %+v", st)
	}
	// Visibility is eventually consistent: the list shows the workflow within seconds.
	poll.Until(t, 30*time.Second, "the list to show the invoice", func() (bool, string) {
		out := run("list", "-status", "retry_scheduled", "-invoice", inv.ID)
		return strings.Contains(out, contracts.InvoicePaymentWorkflowID(inv.ID)) && strings.Contains(out, cust.ID), out
	})
	var o contracts.UpdateOutcome
	if err := json.Unmarshal([]byte(run("retry", inv.ID)), &o); err != nil {
		t.Fatal(err)
	}
	if o.Transaction == nil || o.Transaction.Attempt != 2 || o.Transaction.Status != "failed" || o.InvoiceStatus != "to_pay" {
		t.Fatalf("retry outcome %+v", o)
	}
	// Bad arguments are refused with a message, not run.
	var out bytes.Buffer
	if err := withApp(ctx, "state", []string{"cus_x"}, &out); err == nil {
		t.Fatal("state accepted a non-invoice id")
	}
	if err := withApp(ctx, "list", []string{"-status", "x'y"}, &out); err == nil {
		t.Fatal("list accepted a quote in a value")
	}
}

func ptr[T any](v T) *T { return &v }
