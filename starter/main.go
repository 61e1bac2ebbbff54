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

	"payorch/collection"
	"payorch/config"
	"payorch/contracts"
	"payorch/internal/app"
	"payorch/invoices"
	"payorch/migrations"
)

const usage = `usage: starter <command> [flags] [args]

Operator CLI for payorch. Configuration comes from the PAYORCH_* environment variables
(see README); with make run's defaults nothing needs to be set.

commands:
  migrate                     apply the database migrations to PAYORCH_DATABASE_URL
  collect INVOICE_ID          start (or resume) collection of an invoice: its payment workflow
  state INVOICE_ID            show the payment workflow's full state (its "state" query)
  retry INVOICE_ID            manual retry: charge now and print the outcome
  list [flags]                list payment workflows by status, customer or invoice
                              (flags: -status errored -customer cus_… -limit 50)
  portal CUSTOMER_ID          print a signed link to the customer's portal (a new portal
                              session, PAYORCH_PORTAL_SESSION_TTL)

Run "starter <command> -h" for a command's flags.
`

func main() {
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd, args := flag.Arg(0), flag.Args()[1:]
	var err error
	switch cmd {
	case "migrate":
		err = migrate(ctx)
	case "collect", "state", "retry", "list":
		err = withApp(ctx, cmd, args, os.Stdout)
	case "portal":
		err = portalLink(ctx, args, os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		flag.Usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n", cmd)
		flag.Usage()
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func migrate(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	v, err := migrations.Apply(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Println("database at migration version", v)
	return nil
}

func withApp(ctx context.Context, cmd string, args []string, out io.Writer) error {
	a, err := app.Boot(ctx, app.Options{Temporal: true})
	if err != nil {
		return err
	}
	defer a.Close()
	inv := invoices.NewService(a.Pool)
	cl := &collection.Client{Temporal: a.Temporal, TaskQueue: a.Config.TaskQueue, RetrySchedule: a.Config.RetrySchedule, Invoices: inv}
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
	case "retry":
		id, err := oneID(cmd, args)
		if err != nil {
			return err
		}
		o, err := cl.Retry(ctx, id, "starter")
		if err != nil {
			return err
		}
		return printJSON(out, o)
	case "list":
		return list(ctx, a, args, out)
	}
	return nil
}

func oneID(cmd string, args []string) (string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintf(os.Stderr, "usage: starter %s INVOICE_ID\n", cmd) }
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "inv_") {
		fs.Usage()
		return "", errors.New("one invoice id (inv_…) expected")
	}
	return fs.Arg(0), nil
}

func list(ctx context.Context, a *app.App, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	status := fs.String("status", "", "payment status: collecting, retry_scheduled, awaiting_action, awaiting_transfer, processing, errored, paid, voided")
	customer := fs.String("customer", "", "customer id (cus_…)")
	invoice := fs.String("invoice", "", "invoice id (inv_…)")
	limit := fs.Int("limit", 50, "at most this many workflows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := []string{fmt.Sprintf("WorkflowType = '%s'", contracts.InvoicePaymentWorkflow)}
	for _, f := range []struct{ attr, v string }{{"PaymentStatus", *status}, {"CustomerId", *customer}, {"InvoiceId", *invoice}} {
		if f.v != "" {
			if strings.ContainsAny(f.v, `'"\`) {
				return fmt.Errorf("invalid value %q", f.v)
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
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW\tRUN STATE\tPAYMENT STATUS\tCUSTOMER\tNEXT RETRY")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.GetExecution().GetWorkflowId(), strings.ToLower(e.GetStatus().String()),
			str("PaymentStatus"), str("CustomerId"), next)
	}
	return tw.Flush()
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
