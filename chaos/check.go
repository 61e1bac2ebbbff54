package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"payorch/config"
	"payorch/contracts"
)

// dbInvoice is an invoice as the database has it, with its transactions and the
// simulated provider's charges made for it.
type dbInvoice struct {
	ID, ExternalID, CustomerID, Status string
	Total, AmountPaid                  decimal.Decimal
	AttemptCount                       int
	Txns                               []dbTxn
	Charges                            []dbCharge
}

type dbTxn struct {
	ID, Method, Status, ErrorType string
	Attempt                       int
	Amount                        decimal.Decimal
	ProviderRef, Key, Reference   string
}

type dbCharge struct {
	ID, Key, Status, EventStatus string
	InvoiceID                    string
	Attempt                      int
	Amount                       decimal.Decimal
	EventDelivered               bool
}

// state reads every standard invoice, its transactions and its provider charges.
func (st *runState) state(ctx context.Context) (map[string]*dbInvoice, []dbCharge, error) {
	pool := st.s.pool
	out := map[string]*dbInvoice{}
	rows, err := pool.Query(ctx, `SELECT id, coalesce(external_id, ''), customer_id, status, total, amount_paid, attempt_count
		FROM invoices WHERE kind = 'standard'`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var inv dbInvoice
		if err := rows.Scan(&inv.ID, &inv.ExternalID, &inv.CustomerID, &inv.Status, &inv.Total, &inv.AmountPaid, &inv.AttemptCount); err != nil {
			rows.Close()
			return nil, nil, err
		}
		out[inv.ID] = &inv
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = pool.Query(ctx, `SELECT invoice_id, id, attempt, method, status, coalesce(error_type, ''), amount,
		coalesce(provider_reference, ''), coalesce(idempotency_key, ''), coalesce(reference, '')
		FROM invoice_transactions ORDER BY seq`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var invID string
		var t dbTxn
		if err := rows.Scan(&invID, &t.ID, &t.Attempt, &t.Method, &t.Status, &t.ErrorType, &t.Amount, &t.ProviderRef, &t.Key, &t.Reference); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if inv := out[invID]; inv != nil {
			inv.Txns = append(inv.Txns, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = pool.Query(ctx, `SELECT id, idempotency_key, status, event_status, event_delivered_at IS NOT NULL,
		coalesce(metadata->>'invoice_id', ''), coalesce(metadata->>'attempt', ''), amount
		FROM sim_charges WHERE NOT metadata ? 'load_id' ORDER BY seq`)
	if err != nil {
		return nil, nil, err
	}
	var all []dbCharge
	for rows.Next() {
		var c dbCharge
		var attempt string
		if err := rows.Scan(&c.ID, &c.Key, &c.Status, &c.EventStatus, &c.EventDelivered, &c.InvoiceID, &attempt, &c.Amount); err != nil {
			rows.Close()
			return nil, nil, err
		}
		c.Attempt, _ = strconv.Atoi(attempt)
		all = append(all, c)
		if inv := out[c.InvoiceID]; inv != nil {
			inv.Charges = append(inv.Charges, c)
		}
	}
	rows.Close()
	return out, all, rows.Err()
}

// outcomeReached says whether an invoice is where its class says it ends, with nothing
// left in flight (a pending transaction, an undelivered SEPA outcome).
func (st *runState) outcomeReached(inv *dbInvoice, cl class) bool {
	for _, t := range inv.Txns {
		if t.Status == "pending" {
			return false
		}
	}
	switch cl.Outcome {
	case outcomePaid:
		return inv.Status == "paid"
	case outcomeError:
		return inv.Status == "error"
	default:
		return inv.Status == "to_pay"
	}
}

// waitSettled waits (bounded by SettleTimeout) until every invoice reached its outcome,
// every webhook delivery is delivered and the receiver has every event.
func (st *runState) waitSettled(ctx context.Context) bool {
	deadline := time.Now().Add(st.k.SettleTimeout)
	byID := st.invoiceMap()
	last := time.Now()
	for {
		done, what := st.settled(ctx, byID)
		if done {
			// A last look after a pause: nothing more must happen.
			time.Sleep(3 * time.Second)
			if done, _ = st.settled(ctx, byID); done {
				return true
			}
		}
		if time.Since(last) > 15*time.Second {
			fmt.Fprintf(st.log, "    waiting: %s\n", what)
			last = time.Now()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(st.log, "    gave up waiting: %s\n", what)
			st.describeOpen(ctx, byID)
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (st *runState) invoiceMap() map[string]*invoiceCase {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := make(map[string]*invoiceCase, len(st.invoices))
	for _, inv := range st.invoices {
		m[inv.ID] = inv
	}
	return m
}

// describeOpen prints, for the first invoices not at their outcome, what their workflow
// says (status, PaymentStatus, pending activities and their last failure).
func (st *runState) describeOpen(ctx context.Context, byID map[string]*invoiceCase) {
	invs, _, err := st.state(ctx)
	if err != nil {
		return
	}
	n := 0
	for id, c := range byID {
		inv := invs[id]
		if inv != nil && st.outcomeReached(inv, c.Customer.Class) {
			continue
		}
		if n++; n > 10 {
			return
		}
		fmt.Fprintf(st.log, "    open: invoice %s (%s)", id, c.Customer.Class.Name)
		if inv != nil {
			fmt.Fprintf(st.log, " status %s, %d attempts, transactions:", inv.Status, inv.AttemptCount)
			for _, t := range inv.Txns {
				fmt.Fprintf(st.log, " [%d %s %s %s]", t.Attempt, t.Method, t.Status, t.ErrorType)
			}
		}
		fmt.Fprintln(st.log)
		d, err := st.s.temporal.DescribeWorkflowExecution(ctx, contracts.InvoicePaymentWorkflowID(id), "")
		if err != nil {
			fmt.Fprintf(st.log, "      workflow: %v\n", err)
			continue
		}
		var ps string
		if p := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["PaymentStatus"]; p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &ps)
		}
		fmt.Fprintf(st.log, "      workflow %s, PaymentStatus %q, history %d events\n", d.GetWorkflowExecutionInfo().GetStatus(), ps, d.GetWorkflowExecutionInfo().GetHistoryLength())
		for _, a := range d.GetPendingActivities() {
			fmt.Fprintf(st.log, "      pending activity %s: %s, attempt %d, last failure: %s\n", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), a.GetLastFailure().GetMessage())
		}
	}
}

func (st *runState) settled(ctx context.Context, byID map[string]*invoiceCase) (bool, string) {
	invs, _, err := st.state(ctx)
	if err != nil {
		return false, err.Error()
	}
	open := 0
	for id, c := range byID {
		if inv := invs[id]; inv == nil || !st.outcomeReached(inv, c.Customer.Class) {
			open++
		}
	}
	var undelivered, events int
	if err := st.s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'),
		(SELECT count(*) FROM webhook_fanout_queue)`).Scan(&undelivered, &events); err != nil {
		return false, err.Error()
	}
	var publicEvents int
	if err := st.s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type NOT LIKE 'email.%'`).Scan(&publicEvents); err != nil {
		return false, err.Error()
	}
	got, _ := st.rc.snapshot()
	what := fmt.Sprintf("%d of %d invoices not at their outcome; %d webhook deliveries not delivered, %d events not fanned out; %d of %d events received",
		open, len(byID), undelivered, events, len(got), publicEvents)
	return open == 0 && undelivered == 0 && events == 0 && len(got) >= publicEvents, what
}

// check runs every invariant and appends each violation to r.
func (st *runState) check(ctx context.Context, r *report) error {
	v := func(format string, args ...any) { r.Violations = append(r.Violations, fmt.Sprintf(format, args...)) }
	st.mu.Lock()
	for _, f := range st.failures {
		v("request: %s", f)
	}
	st.mu.Unlock()
	for _, c := range st.s.crashes() {
		v("process: %s", c)
	}
	schedule, err := config.ParseRetrySchedule(st.k.Schedule)
	if err != nil {
		return err
	}
	maxAttempts := len(schedule) + 1

	invs, charges, err := st.state(ctx)
	if err != nil {
		return err
	}
	byID := st.invoiceMap()
	r.Charges = len(charges)
	for _, c := range charges {
		if c.Status == "failed" || c.EventStatus == "failed" {
			r.FailedCharges++
		}
	}

	// One invoice per create request, the one the client was answered with.
	if len(invs) != st.k.Invoices {
		v("%d invoices in the database for %d create requests", len(invs), st.k.Invoices)
	}
	for _, inv := range invs {
		c := byID[inv.ID]
		if c == nil {
			v("invoice %s (%s) exists but no client was answered with it", inv.ID, inv.ExternalID)
			continue
		}
		if want := fmt.Sprintf("chaos-inv-%d", c.N); inv.ExternalID != want {
			v("invoice %s: external_id %q, the client created %q", inv.ID, inv.ExternalID, want)
		}
	}

	// The provider: no idempotency key (invoice and attempt) charged twice, every charge
	// recorded as the transaction of its key, and every recorded charge made.
	perAttempt := map[string][]dbCharge{}
	for _, c := range charges {
		perAttempt[fmt.Sprintf("%s#%d", c.InvoiceID, c.Attempt)] = append(perAttempt[fmt.Sprintf("%s#%d", c.InvoiceID, c.Attempt)], c)
	}
	for k, cs := range perAttempt {
		if len(cs) > 1 {
			keys := []string{}
			for _, c := range cs {
				keys = append(keys, c.Key+"="+c.Status)
			}
			v("invoice attempt %s charged %d times by the provider: %s", k, len(cs), strings.Join(keys, ", "))
		}
	}

	failedPerCustomer := map[string]int{}
	chargesPerCustomer := map[string]int{}
	for id, c := range byID {
		inv := invs[id]
		if inv == nil {
			v("invoice %d (%s): the client was answered with it, the database does not have it", c.N, id)
			continue
		}
		cl := c.Customer.Class
		name := fmt.Sprintf("invoice %s (%s, %s)", id, inv.ExternalID, cl.Name)
		if inv.CustomerID != c.Customer.ID {
			v("%s: customer %s, created for %s", name, inv.CustomerID, c.Customer.ID)
		}
		// Outcome.
		want := map[string]string{outcomePaid: "paid", outcomeError: "error", outcomeWaiting: "to_pay"}[cl.Outcome]
		if inv.Status != want {
			v("%s: status %s, its method dictates %s", name, inv.Status, want)
		}
		// Money: what was paid is the sum of the settled transactions.
		paid := decimal.Zero
		for _, t := range inv.Txns {
			if t.Status == "settled" {
				paid = paid.Add(t.Amount)
			}
			if t.Status == "pending" {
				v("%s: transaction %s still pending", name, t.ID)
			}
		}
		if !paid.Equal(inv.AmountPaid) {
			v("%s: amount_paid %s but its settled transactions sum to %s", name, inv.AmountPaid, paid)
		}
		// Transactions per invoice = attempts made.
		wallet, charge := map[int]int{}, map[int]int{}
		var bank []dbTxn
		failed := 0
		for _, t := range inv.Txns {
			switch t.Method {
			case "wallet":
				wallet[t.Attempt]++
			case "card", "direct_debit":
				charge[t.Attempt]++
				if t.Status == "failed" {
					failed++
				}
			case "bank_transfer":
				bank = append(bank, t)
			default:
				v("%s: unexpected %s transaction %s", name, t.Method, t.ID)
			}
		}
		for a, n := range wallet {
			if n > 1 {
				v("%s: attempt %d has %d wallet debits", name, a, n)
			}
		}
		for a, n := range charge {
			if n > 1 {
				v("%s: attempt %d has %d charge transactions", name, a, n)
			}
		}
		if cl.InvoiceMethod == "bank_transfer" {
			if len(charge) > 0 || len(wallet) > 0 {
				v("%s: a bank-transfer invoice with %d charge and %d wallet transactions", name, len(charge), len(wallet))
			}
			refs := []string{}
			for _, t := range bank {
				refs = append(refs, t.Reference)
			}
			sort.Strings(refs)
			wantRefs := slices.Clone(c.References)
			sort.Strings(wantRefs)
			if !slices.Equal(refs, wantRefs) {
				v("%s: reconciled references %v, the program sent %v (each once)", name, refs, wantRefs)
			}
		} else {
			if len(bank) > 0 {
				v("%s: %d bank-transfer transactions on a %s invoice", name, len(bank), cl.PMType)
			}
			// attempt_count counts the charges started (a wallet that pays everything
			// leaves it at 0): one charge transaction for each, at most one wallet debit per
			// attempt, none beyond.
			for a := 1; a <= inv.AttemptCount; a++ {
				if charge[a] == 0 {
					v("%s: attempt %d of %d has no charge transaction", name, a, inv.AttemptCount)
				}
			}
			for a := range wallet {
				if a < 1 || a > max(1, inv.AttemptCount) {
					v("%s: a wallet debit of attempt %d, but %d attempts made", name, a, inv.AttemptCount)
				}
			}
			for a := range charge {
				if a < 1 || a > inv.AttemptCount {
					v("%s: a charge transaction of attempt %d, but %d attempts made", name, a, inv.AttemptCount)
				}
			}
		}
		switch cl.Name {
		case "settle", "outage", "sepa_settle":
			if inv.AttemptCount > 1 || failed != 0 {
				v("%s: %d attempts, %d failed; want at most 1 attempt (none when the wallet paid it all), none failed", name, inv.AttemptCount, failed)
			}
		case "decline", "sepa_fail":
			if inv.AttemptCount != maxAttempts || failed != maxAttempts {
				v("%s: %d attempts, %d failed; want %d attempts, all failed (the schedule %s)", name, inv.AttemptCount, failed, maxAttempts, st.k.Schedule)
			}
		case "fail_then_settle":
			if failed != max(0, inv.AttemptCount-1) {
				v("%s: %d attempts, %d failed; want every attempt but the last failed", name, inv.AttemptCount, failed)
			}
			failedPerCustomer[inv.CustomerID] += failed
			chargesPerCustomer[inv.CustomerID] += len(charge)
		}
		// Each charge transaction is the provider charge of its key, same amount, and the
		// provider made no charge for the invoice that no transaction records.
		byKey := map[string]dbCharge{}
		for _, ch := range inv.Charges {
			byKey[ch.Key] = ch
		}
		recorded := map[string]bool{}
		for _, t := range inv.Txns {
			if t.Method != "card" && t.Method != "direct_debit" {
				continue
			}
			if t.Key == "" {
				v("%s: charge transaction %s has no idempotency key", name, t.ID)
				continue
			}
			ch, ok := byKey[t.Key]
			if !ok {
				if t.ProviderRef != "" {
					v("%s: transaction %s names provider charge %s, which the provider does not have", name, t.ID, t.ProviderRef)
				}
				continue
			}
			recorded[t.Key] = true
			if t.ProviderRef != ch.ID || !t.Amount.Equal(ch.Amount) {
				v("%s: transaction %s (%s %s) does not match provider charge %s (%s)", name, t.ID, t.ProviderRef, t.Amount, ch.ID, ch.Amount)
			}
			final := ch.Status
			if ch.Status == "pending" && ch.EventDelivered {
				final = ch.EventStatus
			}
			if final != t.Status {
				v("%s: transaction %s is %s but the provider's charge %s is %s", name, t.ID, t.Status, ch.ID, final)
			}
		}
		for _, ch := range inv.Charges {
			if !recorded[ch.Key] {
				v("%s: provider charge %s (key %s, %s %s) recorded by no transaction", name, ch.ID, ch.Key, ch.Status, ch.Amount)
			}
		}
	}
	for cust, n := range failedPerCustomer {
		if want := min(failThenSettle, chargesPerCustomer[cust]); n != want {
			v("customer %s (fail_then_settle): %d failed charges, want %d", cust, n, want)
		}
	}

	st.checkLedger(ctx, v)
	if err := st.checkWorkflows(ctx, byID, invs, v); err != nil {
		return err
	}
	return st.checkEvents(ctx, r, invs, v)
}

// checkLedger: no wallet negative, every wallet the sum of its ledger (and each row's
// balance_after the running sum), every invoice debit the wallet transaction of the
// invoice's wallet part, and each wallet = its funding − its invoices' wallet parts.
func (st *runState) checkLedger(ctx context.Context, v func(string, ...any)) {
	pool := st.s.pool
	rows, err := pool.Query(ctx, `
		SELECT w.id, w.balance,
		       coalesce(sum(CASE WHEN t.type = 'debit' THEN -t.amount ELSE t.amount END), 0),
		       coalesce(bool_and(t.balance_after = r.running), true)
		FROM wallets w
		LEFT JOIN wallet_transactions t ON t.wallet_id = w.id
		LEFT JOIN (SELECT id, sum(CASE WHEN type = 'debit' THEN -amount ELSE amount END) OVER (PARTITION BY wallet_id ORDER BY seq) AS running
		           FROM wallet_transactions) r ON r.id = t.id
		GROUP BY w.id, w.balance`)
	if err != nil {
		v("ledger query: %v", err)
		return
	}
	defer rows.Close()
	balances := map[string]decimal.Decimal{}
	for rows.Next() {
		var id string
		var bal, sum decimal.Decimal
		var running bool
		if err := rows.Scan(&id, &bal, &sum, &running); err != nil {
			v("ledger scan: %v", err)
			return
		}
		balances[id] = bal
		if bal.IsNegative() {
			v("wallet %s: negative balance %s", id, bal)
		}
		if !bal.Equal(sum) {
			v("wallet %s: balance %s but its ledger sums to %s", id, bal, sum)
		}
		if !running {
			v("wallet %s: a ledger row's balance_after is not the running sum", id)
		}
	}
	rows.Close()
	var mismatched int
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT w.invoice_id, w.attempt, w.amount AS wamount, t.amount AS tamount
			FROM wallet_transactions w
			FULL JOIN invoice_transactions t ON t.invoice_id = w.invoice_id AND t.attempt = w.attempt AND t.method = 'wallet'
			WHERE (w.source = 'invoice' OR w.id IS NULL) AND (t.method = 'wallet' OR t.id IS NULL)
		) x WHERE wamount IS DISTINCT FROM tamount`).Scan(&mismatched); err != nil {
		v("ledger/invoice query: %v", err)
	} else if mismatched > 0 {
		v("%d wallet debits and invoice wallet transactions do not match one to one", mismatched)
	}
	// Each wallet holds its funding less what its invoices took from it.
	for _, cu := range st.customer {
		var taken decimal.Decimal
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(t.amount), 0) FROM invoice_transactions t JOIN invoices i ON i.id = t.invoice_id
			WHERE i.customer_id = $1 AND t.method = 'wallet' AND t.status = 'settled'`, cu.ID).Scan(&taken); err != nil {
			v("wallet of %s: %v", cu.ID, err)
			continue
		}
		if want := cu.Funded.Sub(taken); !balances[cu.WalletID].Equal(want) {
			v("wallet %s (%s): balance %s, want %s loaded − %s taken by invoices = %s", cu.WalletID, cu.Class.Name, balances[cu.WalletID], cu.Funded, taken, want)
		}
	}
}

// checkWorkflows: each invoice's workflow shows the outcome to operators (the
// PaymentStatus search attribute), and a waiting invoice's workflow is still running.
func (st *runState) checkWorkflows(ctx context.Context, byID map[string]*invoiceCase, invs map[string]*dbInvoice, v func(string, ...any)) error {
	want := map[string]string{outcomePaid: contracts.PaymentPaid, outcomeError: contracts.PaymentErrored, outcomeWaiting: contracts.PaymentAwaitingTransfer}
	dc := converter.GetDefaultDataConverter()
	for id, c := range byID {
		if invs[id] == nil {
			continue
		}
		d, err := st.s.temporal.DescribeWorkflowExecution(ctx, contracts.InvoicePaymentWorkflowID(id), "")
		if err != nil {
			v("invoice %s: describe its workflow: %v", id, err)
			continue
		}
		info := d.GetWorkflowExecutionInfo()
		var ps string
		if p := info.GetSearchAttributes().GetIndexedFields()["PaymentStatus"]; p != nil {
			_ = dc.FromPayload(p, &ps)
		}
		if w := want[c.Customer.Class.Outcome]; ps != w {
			v("invoice %s (%s): its workflow says PaymentStatus %q, want %q", id, c.Customer.Class.Name, ps, w)
		}
		status := info.GetStatus()
		if c.Customer.Class.Outcome != outcomePaid && status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			v("invoice %s (%s): its workflow is %s, want running (waiting for a person)", id, c.Customer.Class.Name, status)
		}
		if status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED || status == enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED ||
			status == enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT {
			v("invoice %s: its workflow is %s", id, status)
		}
	}
	return nil
}

// checkEvents: the outbox has exactly the events the outcomes imply, and the webhook
// receiver got every public event, each under its one event id, once — a second receipt
// counts only when a worker kill or the PostgreSQL restart came within 5 s of the first
// (the sender died before recording it: at least once), and is reported.
func (st *runState) checkEvents(ctx context.Context, r *report, invs map[string]*dbInvoice, v func(string, ...any)) error {
	pool := st.s.pool
	type ev struct{ id, typ, resource string }
	rows, err := pool.Query(ctx, `SELECT id, type, resource_id FROM events ORDER BY seq`)
	if err != nil {
		return err
	}
	var events []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.id, &e.typ, &e.resource); err != nil {
			rows.Close()
			return err
		}
		events = append(events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	perInvoice := map[string]map[string]int{}
	counts := map[string]int{}
	for _, e := range events {
		counts[e.typ]++
		if strings.HasPrefix(e.typ, "invoice.") {
			if perInvoice[e.resource] == nil {
				perInvoice[e.resource] = map[string]int{}
			}
			perInvoice[e.resource][e.typ]++
		}
	}
	for id, inv := range invs {
		failed := 0
		for _, t := range inv.Txns {
			if t.Status == "failed" {
				failed++
			}
		}
		got := perInvoice[id]
		wantSettled, wantErrored := 0, 0
		if inv.Status == "paid" {
			wantSettled = 1
		}
		if inv.Status == "error" {
			wantErrored = 1
		}
		if got["invoice.settled"] != wantSettled || got["invoice.errored"] != wantErrored || got["invoice.transaction_failed"] != failed {
			v("invoice %s (%s): events settled %d, errored %d, transaction_failed %d; want %d, %d, %d",
				id, inv.Status, got["invoice.settled"], got["invoice.errored"], got["invoice.transaction_failed"], wantSettled, wantErrored, failed)
		}
	}
	var debits, credits int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type = 'debit'), count(*) FILTER (WHERE type <> 'debit') FROM wallet_transactions`).Scan(&debits, &credits); err != nil {
		return err
	}
	if counts["wallet.debited"] != debits || counts["wallet.credited"] != credits {
		v("events wallet.debited %d and wallet.credited %d for %d debits and %d credits in the ledger",
			counts["wallet.debited"], counts["wallet.credited"], debits, credits)
	}

	got, bad := st.rc.snapshot()
	for _, b := range bad {
		v("webhook: %s", b)
	}
	st.mu.Lock()
	crashes := slices.Clone(st.crashes)
	st.mu.Unlock()
	explained := func(t time.Time) bool {
		for _, c := range crashes {
			if d := c.Sub(t); d > -5*time.Second && d < 5*time.Second {
				return true
			}
		}
		return false
	}
	public := map[string]bool{}
	for _, e := range events {
		if strings.HasPrefix(e.typ, "email.") {
			continue
		}
		public[e.id] = true
		r.Events++
		rs := got[e.id]
		switch {
		case len(rs) == 0:
			v("webhook: event %s (%s) never reached the receiver", e.id, e.typ)
		case len(rs) > 1:
			for _, x := range rs[1:] {
				if x.body != rs[0].body {
					v("webhook: event %s (%s) arrived with two different bodies", e.id, e.typ)
				}
			}
			if explained(rs[0].at) {
				r.Redeliveries += len(rs) - 1
			} else {
				v("webhook: event %s (%s) arrived %d times, no crash near the first", e.id, e.typ, len(rs))
			}
		}
		if len(rs) > 0 && rs[0].typ != e.typ {
			v("webhook: event %s arrived as %s, it is %s", e.id, rs[0].typ, e.typ)
		}
	}
	for id, rs := range got {
		r.Webhooks += len(rs)
		if !public[id] {
			v("webhook: the receiver got %s (%s), which is no public event", id, rs[0].typ)
		}
	}
	var notDelivered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'delivered'`, st.endpointID).Scan(&notDelivered); err != nil {
		return err
	}
	if notDelivered > 0 {
		v("webhook: %d deliveries not recorded delivered", notDelivered)
	}
	return nil
}
