package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/store"
)

// bigPool opens a pool of up to n connections on a fresh database, so concurrent
// operations really run on separate connections.
func bigPool(t testing.TB, n int) *pgxpool.Pool {
	t.Helper()
	url := env.Postgres.NewDatabase(t)
	pool, err := store.Open(context.Background(), fmt.Sprintf("%s&pool_max_conns=%d", url, n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestConcurrentLoadsDebitsReverts hammers one wallet from many goroutines on separate
// connections: 100 loads (60 free, 40 paid — each paid completion applied twice at
// once), 30 invoices debited for attempts 1 and 2 with every call made twice at once, and
// reverts of credits with three concurrent reverts of each. Then: the balance was never
// negative, sum(ledger) = balance, no transaction was reverted twice, no (invoice,
// attempt) was debited twice, each invoice's amount_paid is the sum of its debits, each
// paid load was charged once and credited once.
func TestConcurrentLoadsDebitsReverts(t *testing.T) {
	pool := bigPool(t, 48)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	ledgertest.DefaultMethod(t, pool, cust, ledgertest.PMSettle)
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	provider := ledgertest.NewFakeProvider()
	rng := rand.New(rand.NewPCG(1, 2))
	amount := func() string { return fmt.Sprintf("%d.%02d", 1+rng.IntN(40), rng.IntN(100)) }

	const invoices = 30
	invIDs := make([]string, invoices)
	for i := range invIDs {
		// invoices larger than loads, so the wallet often covers only part of one
		invIDs[i] = ledgertest.Invoice(t, pool, cust, fmt.Sprintf("%d.%02d", 20+rng.IntN(100), rng.IntN(100)))
	}
	freeAmounts := make([]string, 60)
	for i := range freeAmounts {
		freeAmounts[i] = amount()
	}
	paidAmounts := make([]string, 40)
	for i := range paidAmounts {
		paidAmounts[i] = amount()
	}

	var (
		wg          sync.WaitGroup
		errs        = make(chan error, 1000)
		credits     = make(chan string, 200) // credit transactions to revert
		revertWins  atomic.Int64
		revertLoses atomic.Int64
		stop        = make(chan struct{})
		minBalance  = decimal.NewFromInt(1)
		sampled     atomic.Int64
	)
	// Sampler: reads the balance while everything runs.
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b := ledgertest.Balance(t, pool, w.ID)
			if b.LessThan(minBalance) {
				minBalance = b
			}
			sampled.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	for _, a := range freeAmounts {
		wg.Add(1)
		go func(a string) {
			defer wg.Done()
			src := ledger.SourceAPI
			if len(a)%2 == 0 {
				src = ledger.SourceOperator
			}
			ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: a, Type: ledger.LoadFree, Source: &src})
			if err != nil {
				errs <- fmt.Errorf("free load: %w", err)
				return
			}
			credits <- *ld.WalletTransactionID
		}(a)
	}
	for _, a := range paidAmounts {
		wg.Add(1)
		go func(a string) {
			defer wg.Done()
			ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: a, Type: ledger.LoadPaid})
			if err == nil {
				_, err = l.PrepareLoad(ctx, ld.ID)
			}
			if err != nil {
				errs <- fmt.Errorf("paid load: %w", err)
				return
			}
			req, err := l.LoadChargeRequest(ctx, ld.ID)
			if err != nil {
				errs <- err
				return
			}
			res, err := provider.Charge(ctx, req)
			if err != nil {
				errs <- err
				return
			}
			// The completion runs twice at once (a retried activity racing the first).
			var inner sync.WaitGroup
			done := make([]ledger.Load, 2)
			for i := range done {
				inner.Add(1)
				go func(i int) {
					defer inner.Done()
					got, err := l.CompleteLoad(ctx, ld.ID, res)
					if err != nil {
						errs <- fmt.Errorf("complete load: %w", err)
					}
					done[i] = got
				}(i)
			}
			inner.Wait()
			if done[0].WalletTransactionID == nil || done[1].WalletTransactionID == nil || *done[0].WalletTransactionID != *done[1].WalletTransactionID {
				errs <- fmt.Errorf("load %s completed into different transactions", ld.ID)
				return
			}
			credits <- *done[0].WalletTransactionID
		}(a)
	}
	type key struct {
		inv     string
		attempt int
	}
	var debitMu sync.Mutex
	debitResults := map[key][]ledger.DebitResult{}
	for _, inv := range invIDs {
		for attempt := 1; attempt <= 2; attempt++ {
			for twice := 0; twice < 2; twice++ {
				wg.Add(1)
				go func(inv string, attempt int) {
					defer wg.Done()
					time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
					r, err := l.DebitForInvoice(ctx, inv, attempt)
					if err != nil {
						errs <- fmt.Errorf("debit: %w", err)
						return
					}
					debitMu.Lock()
					debitResults[key{inv, attempt}] = append(debitResults[key{inv, attempt}], r)
					debitMu.Unlock()
				}(inv, attempt)
			}
		}
	}
	// Reverters: each credit that comes out is reverted by three goroutines at once.
	var reverters sync.WaitGroup
	for r := 0; r < 4; r++ {
		reverters.Add(1)
		go func() {
			defer reverters.Done()
			for tx := range credits {
				if rand.IntN(3) == 0 { // keep some credits
					continue
				}
				var inner sync.WaitGroup
				for i := 0; i < 3; i++ {
					inner.Add(1)
					go func() {
						defer inner.Done()
						_, err := l.Revert(ctx, w.ID, tx)
						switch code(err) {
						case "":
							if err != nil {
								errs <- fmt.Errorf("revert: %w", err)
								return
							}
							revertWins.Add(1)
						case "already_reverted", "insufficient_balance":
							revertLoses.Add(1)
						default:
							errs <- fmt.Errorf("revert: %w", err)
						}
					}()
				}
				inner.Wait()
			}
		}()
	}
	wg.Wait()
	close(credits)
	reverters.Wait()
	close(stop)
	samplerDone.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	ledgertest.AssertBalanced(t, pool)
	if minBalance.IsNegative() || sampled.Load() == 0 {
		t.Fatalf("sampled balance went to %s (%d samples)", minBalance, sampled.Load())
	}
	// No transaction reverted twice; every winning revert is one row.
	if n := ledgertest.Count(t, pool, "(SELECT original_transaction_id FROM wallet_transactions WHERE source = 'revert' GROUP BY 1 HAVING count(*) > 1) x", ""); n != 0 {
		t.Fatalf("%d transactions reverted more than once", n)
	}
	reverts := ledgertest.Count(t, pool, "wallet_transactions", "source = 'revert'")
	if int64(reverts) != revertWins.Load() || reverts == 0 {
		t.Fatalf("%d revert rows, %d winning reverts", reverts, revertWins.Load())
	}
	if n := ledgertest.Count(t, pool, "wallet_transactions o JOIN wallet_transactions r ON r.original_transaction_id = o.id", "o.reverted_by IS DISTINCT FROM r.id"); n != 0 {
		t.Fatalf("%d reverts not recorded on their original", n)
	}
	// No (invoice, attempt) debited twice; both concurrent calls saw the same debit.
	if n := ledgertest.Count(t, pool, "(SELECT 1 FROM wallet_transactions WHERE source = 'invoice' GROUP BY invoice_id, attempt HAVING count(*) > 1) x", ""); n != 0 {
		t.Fatalf("%d invoice attempts debited twice", n)
	}
	newDebits := decimal.Zero
	for k, rs := range debitResults {
		if len(rs) != 2 || !rs[0].Amount.Equal(rs[1].Amount) || rs[0].WalletTransactionID != rs[1].WalletTransactionID {
			t.Fatalf("%v: the two calls disagree: %+v", k, rs)
		}
		if !rs[0].Amount.IsZero() && rs[0].Replayed == rs[1].Replayed {
			t.Fatalf("%v: exactly one call should have debited: %+v", k, rs)
		}
		newDebits = newDebits.Add(rs[0].Amount)
	}
	var debited decimal.Decimal
	if err := pool.QueryRow(ctx, "SELECT COALESCE(sum(amount), 0) FROM wallet_transactions WHERE source = 'invoice'").Scan(&debited); err != nil {
		t.Fatal(err)
	}
	if !debited.Equal(newDebits) || debited.IsZero() {
		t.Fatalf("ledger debits %s, results %s", debited, newDebits)
	}
	if n := ledgertest.Count(t, pool, `invoices i`, `i.amount_paid <> COALESCE((SELECT sum(amount) FROM wallet_transactions t WHERE t.invoice_id = i.id AND t.source = 'invoice'), 0) AND i.kind = 'standard'`); n != 0 {
		t.Fatalf("%d invoices whose amount_paid is not the sum of their debits", n)
	}
	// Every paid load charged once and credited once.
	if provider.Charges() != len(paidAmounts) {
		t.Fatalf("%d charges for %d paid loads", provider.Charges(), len(paidAmounts))
	}
	if n := ledgertest.Count(t, pool, "wallet_loads", "status = 'settled'"); n != len(paidAmounts)+len(freeAmounts) {
		t.Fatalf("%d settled loads", n)
	}
	if n := ledgertest.Count(t, pool, "wallet_transactions", "load_id IS NOT NULL"); n != len(paidAmounts)+len(freeAmounts) {
		t.Fatalf("%d load credits for %d loads", n, len(paidAmounts)+len(freeAmounts))
	}
	t.Logf("balance %s; %d reverts won, %d refused; debited %s over %d attempts; %d balance samples",
		ledgertest.Balance(t, pool, w.ID), revertWins.Load(), revertLoses.Load(), debited, len(debitResults), sampled.Load())
}

// hotWallet returns a pool and a wallet holding a large balance, plus n invoices of 0.01.
func hotWallet(b *testing.B, n int) (*pgxpool.Pool, *ledger.Ledger, string, []string) {
	b.Helper()
	pool := bigPool(b, 24)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(b, pool, "EUR")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "1000000000", Type: ledger.LoadFree}); err != nil {
		b.Fatal(err)
	}
	prefix := ids.New(ids.Invoice) + "_"
	if _, err := pool.Exec(ctx, `
		INSERT INTO invoices (id, customer_id, currency, payment_method, total)
		SELECT $1 || g, $2, 'EUR', 'card', 0.01 FROM generate_series(1, $3::int) g`, prefix, cust, n); err != nil {
		b.Fatal(err)
	}
	invs := make([]string, n)
	for i := range invs {
		invs[i] = fmt.Sprint(prefix, i+1)
	}
	return pool, l, w.ID, invs
}

// BenchmarkDebitHotWallet measures DebitForInvoice (invoice lock, wallet lock, ledger row,
// invoice transaction, amount_paid, outbox event: one transaction) on one hot wallet,
// serially and from 16 concurrent goroutines.
func BenchmarkDebitHotWallet(b *testing.B) {
	for _, par := range []int{0, 8} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			pool, l, wallet, invs := hotWallet(b, b.N)
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			if par == 0 {
				for i := 0; i < b.N; i++ {
					if r, err := l.DebitForInvoice(ctx, invs[i], 1); err != nil || r.Amount.IsZero() {
						b.Fatalf("%+v %v", r, err)
					}
				}
			} else {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) - 1
						if r, err := l.DebitForInvoice(ctx, invs[i], 1); err != nil || r.Amount.IsZero() {
							b.Errorf("%+v %v", r, err)
							return
						}
					}
				})
			}
			b.StopTimer()
			ledgertest.AssertBalanced(b, pool)
			_ = wallet
		})
	}
}

// BenchmarkRawUpdate is the floor to compare with: a bare single-row
// UPDATE wallets SET balance = balance - 0.01 on the same hot wallet.
func BenchmarkRawUpdate(b *testing.B) {
	for _, par := range []int{0, 8} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			pool, _, wallet, _ := hotWallet(b, 0)
			ctx := context.Background()
			update := func() error {
				_, err := pool.Exec(ctx, "UPDATE wallets SET balance = balance - 0.01 WHERE id = $1", wallet)
				return err
			}
			b.ResetTimer()
			if par == 0 {
				for i := 0; i < b.N; i++ {
					if err := update(); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := update(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestConcurrentExpiriesRaceDebits races the expiry of 40 expiring credits (each expired by
// three goroutines at once) against 60 invoice debits and further loads on one wallet, on
// separate connections, while a sampler checks in one snapshot that the expiring credits
// never hold more than the balance. Then: sum(ledger) = balance, one expiry row at most per
// credit, every expiring credit closed with nothing left, each expiry's amount what its
// credit still held (expiry + what debits took of it = its amount, as checked by the
// ledger's sum), all three calls of a credit agreeing, and the balance no more than the
// money that never expires.
func TestConcurrentExpiriesRaceDebits(t *testing.T) {
	pool := bigPool(t, 48)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	amount := func() string { return fmt.Sprintf("%d.%02d", 1+rng.IntN(30), rng.IntN(100)) }
	now := time.Now()

	// The expiring credits exist before the race; more loads come during it.
	expiring := make([]string, 40)
	for i := range expiring {
		at := now.Add(time.Hour + time.Duration(rng.IntN(600))*time.Minute)
		ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: amount(), Type: ledger.LoadFree, ExpiresAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		expiring[i] = *ld.WalletTransactionID
	}
	invIDs := make([]string, 60)
	for i := range invIDs {
		invIDs[i] = ledgertest.Invoice(t, pool, cust, fmt.Sprintf("%d.%02d", 1+rng.IntN(10), rng.IntN(100)))
	}
	lateLoads := make([]string, 20)
	for i := range lateLoads {
		lateLoads[i] = amount()
	}

	var (
		wg       sync.WaitGroup
		errs     = make(chan error, 1000)
		stop     = make(chan struct{})
		sampled  atomic.Int64
		expMu    sync.Mutex
		expiries = map[string][]ledger.Expiry{}
	)
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var balance, lots decimal.Decimal
			if err := pool.QueryRow(ctx, `SELECT w.balance, COALESCE((SELECT sum(remaining) FROM wallet_credit_lots l WHERE l.wallet_id = w.id), 0)
				FROM wallets w WHERE w.id = $1`, w.ID).Scan(&balance, &lots); err != nil {
				errs <- err
				return
			}
			if balance.IsNegative() || lots.GreaterThan(balance) {
				errs <- fmt.Errorf("sampled: balance %s, expiring credits hold %s", balance, lots)
			}
			sampled.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	for _, inv := range invIDs {
		wg.Add(1)
		go func(inv string) {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			if _, err := l.DebitForInvoice(ctx, inv, 1); err != nil {
				errs <- fmt.Errorf("debit: %w", err)
			}
		}(inv)
	}
	for _, a := range lateLoads {
		wg.Add(1)
		go func(a string) {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: a, Type: ledger.LoadFree}); err != nil {
				errs <- fmt.Errorf("load: %w", err)
			}
		}(a)
	}
	for _, tx := range expiring {
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func(tx string) {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
				e, err := l.ExpireCredit(ctx, tx, now.Add(24*time.Hour))
				if err != nil {
					errs <- fmt.Errorf("expire %s: %w", tx, err)
					return
				}
				expMu.Lock()
				expiries[tx] = append(expiries[tx], e)
				expMu.Unlock()
			}(tx)
		}
	}
	wg.Wait()
	close(stop)
	samplerDone.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	ledgertest.AssertBalanced(t, pool)
	if n := ledgertest.Count(t, pool, "(SELECT original_transaction_id FROM wallet_transactions WHERE type = 'expiry' GROUP BY 1 HAVING count(*) > 1) x", ""); n != 0 {
		t.Fatalf("%d credits expired more than once", n)
	}
	if n := ledgertest.Count(t, pool, "wallet_credit_lots", "expired_at IS NULL OR remaining <> 0"); n != 0 {
		t.Fatalf("%d expiring credits left open", n)
	}
	if n := ledgertest.Count(t, pool, "wallet_credit_lots l JOIN wallet_transactions x ON x.id = l.expiry_transaction_id", "x.original_transaction_id <> l.wallet_transaction_id OR x.amount > l.amount"); n != 0 {
		t.Fatalf("%d expiries that do not match their credit", n)
	}
	expired := 0
	for tx, es := range expiries {
		if len(es) != 3 {
			t.Fatalf("%s: %d expiry results", tx, len(es))
		}
		fresh := 0
		for _, e := range es {
			if !e.Amount.Equal(es[0].Amount) || e.TransactionID != es[0].TransactionID {
				t.Fatalf("%s: the three calls disagree: %+v", tx, es)
			}
			if !e.Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%s: %d calls expired it, want 1: %+v", tx, fresh, es)
		}
		if es[0].TransactionID != "" {
			expired++
		}
	}
	if n := ledgertest.Count(t, pool, "wallet_transactions", "type = 'expiry'"); n != expired {
		t.Fatalf("%d expiry rows, %d results with an expiry", n, expired)
	}
	if n := ledgertest.Count(t, pool, "events", "type = 'wallet.credit_expired'"); n != expired {
		t.Fatalf("%d wallet.credit_expired events for %d expiries", n, expired)
	}
	// Every expiring credit is gone: what is left can only be money that never expires.
	var never decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT COALESCE(sum(amount), 0) FROM wallet_transactions t
		WHERE t.type = 'credit_free' AND NOT EXISTS (SELECT 1 FROM wallet_credit_lots l WHERE l.wallet_transaction_id = t.id)`).Scan(&never); err != nil {
		t.Fatal(err)
	}
	if b := ledgertest.Balance(t, pool, w.ID); b.GreaterThan(never) {
		t.Fatalf("balance %s after every expiry, more than the %s that never expires", b, never)
	}
	t.Logf("balance %s; %d of %d credits expired with a rest; %d samples", ledgertest.Balance(t, pool, w.ID), expired, len(expiring), sampled.Load())
}
