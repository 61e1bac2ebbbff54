// Command starter is the operator's command-line client: it talks to Temporal and
// PostgreSQL with the same configuration (PAYORCH_* variables) as the other processes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"payorch/config"
	"payorch/contracts"
	"payorch/internal/app"
	"payorch/migrations"
)

const usage = `usage: payorchctl [--json] <command> [flags] [args]

Operator CLI for payorch (build: go build -o .bin/payorchctl ./starter; or go run ./starter).
Support actions go through the HTTP API (PAYORCH_API_URL, PAYORCH_API_KEY); workflow
commands reach Temporal and the database with the PAYORCH_* variables of the other
processes (see README). With make run's defaults nothing needs to be set.

through the API:
  invoice INVOICE_ID          show an invoice (status, amounts, transactions, next retry)
  retry INVOICE_ID            manual retry: charge now and print the outcome
  reconcile INVOICE_ID -amount 12.00 -reference REF [-paid-at RFC3339] [-method manual]
                              record money received outside the PSP
  void INVOICE_ID [-reason TEXT]
                              void an unpaid invoice (backend key)
  reactivate SUBSCRIPTION_ID  reactivate an errored subscription
  cancel SUBSCRIPTION_ID      cancel a subscription
  revert WALLET_ID TRANSACTION_ID
                              revert a wallet top-up
  portal CUSTOMER_ID          print a signed link to the customer's portal (backend key)
  redeliver DELIVERY_ID       send a webhook delivery (whd_…) again now
  dunning get                 the dunning policy in force: the retry schedule per error type
  dunning set --default 2h,12h,24h [--type processing_error=15m,1h,6h ...]
                              replace the dunning policy (backend key); workflows started
                              from now on take it, running ones keep theirs

workflows and database:
  list [flags]                list payment workflows by status, customer or invoice
                              (flags: -status errored -customer cus_… -invoice inv_… -limit 50)
  state INVOICE_ID            the payment workflow's full state (its "state" query)
  collect INVOICE_ID          start (or resume) collection of an invoice: its payment workflow
  migrate                     apply the database migrations to PAYORCH_DATABASE_URL

--json (anywhere on the line) prints the API's or the workflow's JSON for scripts.
Errors: exit status 1 and one line on stderr naming what failed; 2 for a usage error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command line and returns the process's exit status: 0 done, 1 the
// command failed (one line on stderr says what), 2 the line is not a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	jsonOut := false
	rest := make([]string, 0, len(args))
	for _, a := range args {
		if a == "--json" || a == "-json" {
			jsonOut = true
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, cargs := rest[0], rest[1:]
	var err error
	switch cmd {
	case "migrate":
		err = migrate(ctx, stdout)
	case "dunning":
		err = runDunning(ctx, cargs, jsonOut, stdout)
	case "collect", "state", "list":
		err = withApp(ctx, cmd, cargs, jsonOut, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if _, ok := apiCommands[cmd]; ok {
			err = runAPICommand(ctx, cmd, cargs, jsonOut, stdout)
		} else {
			fmt.Fprintf(stderr, "payorchctl: unknown command %q (payorchctl help lists them)\n", cmd)
			return 2
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "payorchctl:", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	return 0
}

func migrate(ctx context.Context, out io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	v, err := migrations.Apply(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "database at migration version", v)
	return nil
}

func withApp(ctx context.Context, cmd string, args []string, jsonOut bool, out io.Writer) error {
	a, err := app.Boot(ctx, app.Options{Temporal: true})
	if err != nil {
		return err
	}
	defer a.Close()
	cl := a.Collection()
	inv := cl.Invoices
	switch cmd {
	case "collect":
		id, err := oneID(cmd, args)
		if err != nil {
			return err
		}
		i, err := inv.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := cl.StartInvoice(ctx, i); err != nil {
			return err
		}
		if jsonOut {
			return printJSON(out, map[string]string{"invoice_id": i.ID, "workflow_id": contracts.InvoicePaymentWorkflowID(i.ID),
				"status": i.Status, "amount_due": i.AmountDue, "currency": i.Currency})
		}
		fmt.Fprintf(out, "collecting %s: workflow %s (status %s, due %s %s)\n", i.ID, contracts.InvoicePaymentWorkflowID(i.ID), i.Status, i.AmountDue, i.Currency)
		return nil
	case "state":
		id, err := oneID(cmd, args)
		if err != nil {
			return err
		}
		st, err := cl.State(ctx, id)
		if err != nil {
			return err
		}
		return printJSON(out, st)
	case "list":
		return list(ctx, a, args, jsonOut, out)
	}
	return nil
}

func oneID(cmd string, args []string) (string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %w (usage: payorchctl %s INVOICE_ID)", cmd, err, cmd)
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "inv_") {
		return "", fmt.Errorf("%s: one invoice id (inv_…) expected (usage: payorchctl %s INVOICE_ID)", cmd, cmd)
	}
	return fs.Arg(0), nil
}

func list(ctx context.Context, a *app.App, args []string, jsonOut bool, out io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	status := fs.String("status", "", "payment status: collecting, retry_scheduled, awaiting_action, awaiting_transfer, processing, errored, paid, voided")
	customer := fs.String("customer", "", "customer id (cus_…)")
	invoice := fs.String("invoice", "", "invoice id (inv_…)")
	limit := fs.Int("limit", 50, "at most this many workflows")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("list: %w (flags: -status, -customer, -invoice, -limit)", err)
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("list: -limit %d is not from 1 to 1000", *limit)
	}
	q := []string{fmt.Sprintf("WorkflowType = '%s'", contracts.InvoicePaymentWorkflow)}
	for _, f := range []struct{ attr, v string }{{"PaymentStatus", *status}, {"CustomerId", *customer}, {"InvoiceId", *invoice}} {
		if f.v != "" {
			if strings.ContainsAny(f.v, `'"\`) {
				return fmt.Errorf("list: invalid value %q", f.v)
			}
			q = append(q, fmt.Sprintf("%s = '%s'", f.attr, f.v))
		}
	}
	query := strings.Join(q, " AND ")
	resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: a.Config.TemporalNamespace, Query: query, PageSize: int32(*limit)})
	if err != nil {
		return fmt.Errorf("list workflows (%s): %w", query, err)
	}
	rows := []listRow{}
	for _, e := range resp.GetExecutions() {
		sa := e.GetSearchAttributes().GetIndexedFields()
		str := func(k string) string {
			if p, ok := sa[k]; ok {
				var s string
				if json.Unmarshal(p.GetData(), &s) == nil {
					return s
				}
			}
			return "-"
		}
		next := str("NextRetryAt")
		if t, err := time.Parse(time.RFC3339Nano, next); err == nil {
			next = t.UTC().Format(time.RFC3339)
		}
		rows = append(rows, listRow{WorkflowID: e.GetExecution().GetWorkflowId(), RunState: strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
			PaymentStatus: str("PaymentStatus"), CustomerID: str("CustomerId"), InvoiceID: str("InvoiceId"), NextRetryAt: next})
	}
	if jsonOut {
		return printJSON(out, map[string]any{"data": rows})
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW\tRUN STATE\tPAYMENT STATUS\tCUSTOMER\tNEXT RETRY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.RunState, r.PaymentStatus, r.CustomerID, r.NextRetryAt)
	}
	return tw.Flush()
}

// listRow is one payment workflow of list (its --json shape).
type listRow struct {
	WorkflowID    string `json:"workflow_id"`
	RunState      string `json:"run_state"`
	PaymentStatus string `json:"payment_status"`
	CustomerID    string `json:"customer_id"`
	InvoiceID     string `json:"invoice_id"`
	NextRetryAt   string `json:"next_retry_at"`
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
