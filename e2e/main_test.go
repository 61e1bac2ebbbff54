package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/api"
	"payorch/config"
	"payorch/ids"
	"payorch/internal/testenv"
	"payorch/internal/testenv/poll"
)

var (
	env       *testenv.Env
	workerBin string
	// workerBuildFlags are the worker binary's build flags: -race when the tests run with
	// it (race_test.go), so a race in the worker fails the test that started it.
	workerBuildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "payorch-e2e-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	workerBin = filepath.Join(dir, "worker")
	root, err := testenv.RepoRoot()
	if err != nil {
		panic(err)
	}
	build := exec.Command("go", append(append([]string{"build"}, workerBuildFlags...), "-o", workerBin, "./worker")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build worker: %v\n%s", err, out)
		os.Exit(1)
	}
	testenv.Main(m, &env, testenv.Options{Temporal: true})
}

const backendKey = "e2e_backend_key"

// stack is one end-to-end deployment: a database, an API server on loopback, and a
// worker subprocess that can be killed and restarted.
type stack struct {
	t        *testing.T
	pool     *pgxpool.Pool
	dbURL    string
	queue    string
	api      *httptest.Server
	worker   *exec.Cmd
	logs     *syncBuffer
	extraEnv []string
	// dataDir is the worker's PAYORCH_DATA_DIR (dev mail lands in it).
	dataDir string
}

func newStack(t *testing.T, schedule string, extraEnv ...string) *stack {
	t.Helper()
	return newStackWith(t, stackOptions{schedule: schedule, extraEnv: extraEnv})
}

// stackOptions shape a stack: the retry schedule, the worker's extra environment, a
// wrapper around the API's handler (fault injection) and the API's Update wait.
type stackOptions struct {
	schedule   string
	extraEnv   []string
	wrap       func(http.Handler) http.Handler
	updateWait time.Duration
	// dunningMinDelay lowers the API's floor for a schedule's delay (PAYORCH_DUNNING_MIN_DELAY).
	dunningMinDelay time.Duration
}

func newStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	schedule, extraEnv := o.schedule, o.extraEnv
	pool, url := env.Postgres.NewPool(t)
	s := &stack{t: t, pool: pool, dbURL: url, queue: "e2e-" + ids.New("q"), logs: &syncBuffer{}, extraEnv: extraEnv, dataDir: t.TempDir()}
	keys, err := config.ParseAPIKeys("backend:" + backendKey)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := config.ParseRetrySchedule(schedule)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Pool: pool, Temporal: env.Temporal, Keys: keys, TaskQueue: s.queue, RetrySchedule: sched,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), UpdateWait: o.updateWait, DunningMinDelay: o.dunningMinDelay,
		WebhookAllowPrivateNetworks: true, // receivers listen on 127.0.0.1
	})
	h := srv.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	s.api = httptest.NewServer(h)
	t.Cleanup(s.api.Close)
	t.Cleanup(func() {
		s.killWorker()
		if i := strings.Index(s.logs.String(), "WARNING: DATA RACE"); i >= 0 {
			report := s.logs.String()[i:]
			t.Errorf("the worker reported a data race:\n%s", report[:min(len(report), 20000)])
		} else if t.Failed() {
			t.Logf("worker logs:\n%s", tail(s.logs.String(), 20000))
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// startWorker starts the worker binary against the stack's database and task queue.
func (s *stack) startWorker() {
	s.t.Helper()
	cmd := exec.Command(workerBin)
	cmd.Env = append(os.Environ(),
		"PAYORCH_DATABASE_URL="+s.dbURL,
		"PAYORCH_TEMPORAL_ADDRESS="+env.TemporalAddress,
		"PAYORCH_TASK_QUEUE="+s.queue,
		"PAYORCH_LOG_FORMAT=text",
		"PAYORCH_LOG_LEVEL=warn",
		"STRIPE_SECRET_KEY=",
		"PAYORCH_DATA_DIR="+s.dataDir,
		"PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true", // receivers listen on 127.0.0.1
		"PAYORCH_WORKER_METRICS_ADDR=",                // several workers run at once
		"PAYORCH_SWEEP_INTERVAL=500ms",
		"PAYORCH_SWEEP_GRACE=2s",
	)
	cmd.Env = append(cmd.Env, s.extraEnv...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.worker = cmd
}

// killWorker kills the worker with SIGKILL (no graceful shutdown), as a crash would.
func (s *stack) killWorker() {
	if s.worker == nil || s.worker.Process == nil {
		return
	}
	_ = syscall.Kill(-s.worker.Process.Pid, syscall.SIGKILL)
	_ = s.worker.Wait()
	s.worker = nil
}

// call sends an API request and decodes the JSON answer.
func (s *stack) call(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.api.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+backendKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	if resp.StatusCode >= 500 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// until polls cond (poll.Until) for at most d; when it times out, the invoices and their
// transactions are logged with the failure.
func (s *stack) until(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	held := false
	defer func() {
		if !held { // poll.Until failed the test (runtime.Goexit runs this)
			s.t.Logf("invoices: %s", s.dump(`SELECT id, status, attempt_count, next_retry_at FROM invoices ORDER BY seq`))
			s.t.Logf("transactions: %s", s.dump(`SELECT invoice_id, attempt, method, status, coalesce(error_type, '') FROM invoice_transactions ORDER BY seq`))
		}
	}()
	poll.Until(s.t, d, what, func() (bool, string) { return cond(), "" })
	held = true
}

// dump renders a query's rows for a failure message.
func (s *stack) dump(query string) string {
	rows, err := s.pool.Query(context.Background(), query)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "\n  %v", vals)
	}
	if err := rows.Err(); err != nil {
		return err.Error()
	}
	return b.String()
}

func (s *stack) scalar(query string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// newCustomer creates a customer with a default card.
func (s *stack) newCustomer(name, providerID string) string {
	var cust map[string]any
	if code := s.call("POST", "/v1/customers", map[string]any{"name": name, "email": strings.ToLower(name) + "@example.com", "currency": "EUR"}, &cust); code != 201 {
		s.t.Fatalf("create customer: %d %v", code, cust)
	}
	id := cust["id"].(string)
	var pm map[string]any
	if code := s.call("POST", "/v1/customers/"+id+"/payment-methods", map[string]any{"type": "card", "provider_id": providerID,
		"exp_month": 12, "exp_year": time.Now().Year() + 2, "last4": "4242", "default": true}, &pm); code != 201 {
		s.t.Fatalf("add payment method: %d %v", code, pm)
	}
	return id
}

// syncBuffer is the worker's log: written by the process's output copiers while a test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p under the lock.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
