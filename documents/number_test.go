package documents_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"payorch/documents"
	"payorch/ids"
	"payorch/invoices"
	"payorch/ledger/ledgertest"
	"payorch/store"
)

// numberRe is the shape of every document number: KIND-YEAR-NNNNNN.
var numberRe = regexp.MustCompile(`^(INV|RCT|CN)-(\d{4})-(\d{6,})$`)

// sequence checks that numbers are exactly kind-year-000001 … kind-year-N.
func sequence(t *testing.T, kind documents.Kind, numbers []string) {
	t.Helper()
	year := time.Now().UTC().Year()
	var got []int
	for _, n := range numbers {
		m := numberRe.FindStringSubmatch(n)
		if m == nil || m[1] != string(kind) || m[2] != strconv.Itoa(year) {
			t.Fatalf("number %q is not %s-%d-NNNNNN", n, kind, year)
		}
		v, _ := strconv.Atoi(m[3])
		got = append(got, v)
	}
	sort.Ints(got)
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("%s numbers are not 1..%d without gaps or duplicates: position %d holds %d (all: %v)", kind, len(got), i+1, v, got)
		}
	}
}

// TestNumbersGapFreeUnderConcurrencyAndRollback runs many creators at once, a third of
// which roll back after taking their numbers: the committed invoices and credit-note
// numbers are exactly 1..N, and every invoice got one when inserted (through the real
// invoice creation path too).
func TestNumbersGapFreeUnderConcurrencyAndRollback(t *testing.T) {
	ctx := context.Background()
	pool, _ := env.Postgres.NewPool(t)
	cust := ledgertest.Customer(t, pool, "EUR")
	svc := invoices.NewService(pool)

	const workers = 45
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		committed []string // credit-note numbers of committed transactions
		rolled    int
		errs      []error
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
			if i%5 == 4 { // the API's path: invoices.Service.Create
				if _, err := svc.Create(ctx, invoices.CreateInput{CustomerID: cust, Lines: []invoices.LineInput{{Description: "Plan", Amount: "10.00"}}}); err != nil {
					fail(err)
				}
				return
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				fail(err)
				return
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			if _, err := tx.Exec(ctx, `INSERT INTO invoices (id, customer_id, currency, payment_method, total)
				VALUES ($1, $2, 'EUR', 'card', 5)`, ids.New(ids.Invoice), cust); err != nil {
				fail(err)
				return
			}
			cn, err := documents.NextNumber(ctx, store.New(tx), documents.KindCreditNote)
			if err != nil {
				fail(err)
				return
			}
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // hold the numbers a moment
			if i%3 == 0 {
				if err := tx.Rollback(ctx); err != nil {
					fail(err)
				}
				mu.Lock()
				rolled++
				mu.Unlock()
				return
			}
			if err := tx.Commit(ctx); err != nil {
				fail(err)
				return
			}
			mu.Lock()
			committed = append(committed, cn)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("creators failed: %v", errs)
	}
	if rolled == 0 || len(committed) == 0 {
		t.Fatalf("the test needs both commits and rollbacks (rolled back %d, committed %d)", rolled, len(committed))
	}
	sequence(t, documents.KindCreditNote, committed)

	rows, err := pool.Query(ctx, `SELECT number FROM invoices`)
	if err != nil {
		t.Fatal(err)
	}
	var invs []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		invs = append(invs, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := workers - rolled; len(invs) != want {
		t.Fatalf("%d invoices committed, want %d", len(invs), want)
	}
	sequence(t, documents.KindInvoice, invs)
}

// TestInvoiceNumberOnAPIObject: a created invoice carries its number, and kinds count
// separately.
func TestInvoiceNumberOnAPIObject(t *testing.T) {
	ctx := context.Background()
	pool, _ := env.Postgres.NewPool(t)
	cust := ledgertest.Customer(t, pool, "EUR")
	inv, err := invoices.NewService(pool).Create(ctx, invoices.CreateInput{CustomerID: cust, Lines: []invoices.LineInput{{Description: "Plan", Amount: "10.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("INV-%d-000001", time.Now().UTC().Year())
	if inv.Number != want {
		t.Fatalf("invoice number %q, want %q", inv.Number, want)
	}
	var rct string
	if err := store.InTx(ctx, pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		rct, err = documents.NextNumber(ctx, q, documents.KindReceipt)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("RCT-%d-000001", time.Now().UTC().Year()); rct != want {
		t.Fatalf("first receipt number %q, want %q", rct, want)
	}
}
