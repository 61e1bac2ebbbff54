package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"payorch/api"
	"payorch/config"
	"payorch/internal/app"
	"payorch/internal/testenv"
	"payorch/migrations"
	"payorch/store"
)

const (
	backendKey   = "bench_backend_key"
	portalSecret = "bench-portal-secret-0123456789abcdef0123456789"
	// invoiceQueue is the payorch worker's task queue; bareQueue the bare worker's.
	invoiceQueue = "bench-invoices"
	bareQueue    = "bench-bare"
)

// benchEnv is one run's real parts: PostgreSQL (always a throwaway cluster), Temporal (a
// dev server on SQLite, or the server at BENCH_TEMPORAL_ADDRESS), a payorch database, and
// the worker binary built from this tree.
type benchEnv struct {
	Root         string
	PG           *testenv.Postgres
	DBName       string
	DBURL        string
	Pool         *pgxpool.Pool
	Temporal     client.Client
	TemporalAddr string
	// TemporalKind says which server: "dev-server (SQLite file)" or "external <addr>".
	TemporalKind string
	// TemporalDB is the dev server's SQLite file (empty for an external server).
	TemporalDB string
	WorkerBin  string
	tmp        string
	dev        *testsuite.DevServer
}

func startEnv(ctx context.Context, k knobs) (*benchEnv, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "payorch-bench-")
	if err != nil {
		return nil, err
	}
	e := &benchEnv{Root: root, tmp: tmp}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()
	if e.PG, err = testenv.StartPostgres(ctx); err != nil {
		return nil, err
	}
	e.DBName = "bench"
	admin, err := pgxpool.New(ctx, e.PG.AdminURL)
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+e.DBName)
	admin.Close()
	if err != nil {
		return nil, err
	}
	e.DBURL = e.PG.URL(e.DBName)
	if _, err := migrations.Apply(ctx, e.DBURL); err != nil {
		return nil, err
	}
	if e.Pool, err = store.OpenWith(ctx, e.DBURL, store.PoolOptions{MaxConns: 40}); err != nil {
		return nil, err
	}
	if k.TemporalAddr != "" {
		e.TemporalAddr, e.TemporalKind = k.TemporalAddr, "external "+k.TemporalAddr
		if e.Temporal, err = client.DialContext(ctx, client.Options{HostPort: e.TemporalAddr, Namespace: "default", Logger: quietLogger{}}); err != nil {
			return nil, fmt.Errorf("dial %s: %w", e.TemporalAddr, err)
		}
	} else if err := e.startDevServer(ctx); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// startDevServer starts the pinned CLI's dev server as the tests do (one task-queue
// partition, the search attributes), on a SQLite file so P4 can report its size.
func (e *benchEnv) startDevServer(ctx context.Context) error {
	bin, err := testenv.TemporalBinary(e.Root)
	if err != nil {
		return err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// A file, so P4 can measure it; fsync off as in the benchmark's PostgreSQL (testenv:
	// fsync=off), so both sides measure work, not the disk.
	args := append(testenv.DevServerArgs(), "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off")
	var out io.Writer = io.Discard
	if os.Getenv("PAYORCH_TEST_VERBOSE") != "" {
		out = os.Stderr
	}
	e.TemporalDB = filepath.Join(e.tmp, "temporal.db")
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: addr, Namespace: "default", Logger: quietLogger{}},
		LogLevel:      "error",
		DBFilename:    e.TemporalDB,
		ExtraArgs:     args,
		Stdout:        out,
		Stderr:        out,
	})
	if err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	e.dev = srv
	e.TemporalAddr = srv.FrontendHostPort()
	e.TemporalKind = "dev-server (SQLite file, WAL, synchronous=off; 1 task-queue partition)"
	e.Temporal = srv.Client()
	return nil
}

// Stop stops everything startEnv started.
func (e *benchEnv) Stop() {
	if e.Pool != nil {
		e.Pool.Close()
	}
	if e.Temporal != nil && e.dev == nil {
		e.Temporal.Close()
	}
	if e.dev != nil {
		_ = e.dev.Stop()
	}
	if e.PG != nil {
		e.PG.Stop()
	}
	_ = os.RemoveAll(e.tmp)
}

// process is a subprocess (the payorch worker or the bare worker).
type process struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// workerEnv is the environment the payorch worker runs with: this run's database and
// Temporal, the task queue, no metrics endpoint, quiet logs.
func (e *benchEnv) workerEnv(queue string) []string {
	return append(os.Environ(),
		"PAYORCH_DATABASE_URL="+e.DBURL,
		"PAYORCH_TEMPORAL_ADDRESS="+e.TemporalAddr,
		"PAYORCH_TASK_QUEUE="+queue,
		"PAYORCH_WORKER_METRICS_ADDR=",
		"PAYORCH_LOG_LEVEL=error",
		"PAYORCH_DATA_DIR="+filepath.Join(e.tmp, "data"),
		"PAYORCH_PORTAL_SECRET="+portalSecret,
	)
}

// startWorker starts the payorch worker on queue, built from this tree (whatever workflow
// it has) the first time.
func (e *benchEnv) startWorker(queue string) (*process, error) {
	if e.WorkerBin == "" {
		bin := filepath.Join(e.tmp, "worker")
		build := exec.Command("go", "build", "-o", bin, "./worker")
		build.Dir = e.Root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build worker: %v\n%s", err, out)
		}
		e.WorkerBin = bin
	}
	return e.spawn(e.WorkerBin, e.workerEnv(queue))
}

// startBareWorker starts this program again as the bare worker (same worker options as
// the payorch worker: worker.Options{}).
func (e *benchEnv) startBareWorker(queue string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return e.spawn(self, append(e.workerEnv(queue), roleEnv+"="+roleBareWorker))
}

func (e *benchEnv) spawn(bin string, env []string) (*process, error) {
	p := &process{logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 15 s).
func (p *process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Exited says whether the process ended (it should not, during a phase).
func (p *process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// RSS returns the process's resident set size in bytes (/proc/<pid>/status VmRSS).
func (p *process) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n * 1024
			}
		}
	}
	return -1
}

// apiServer is the payorch HTTP API, in process, on a loopback port.
type apiServer struct {
	URL  string
	srv  *http.Server
	pool *pgxpool.Pool
	http *http.Client
}

// startAPI wires the API as apiserver/main.go does (internal/app), with the given task
// queue and retry schedule.
func (e *benchEnv) startAPI(ctx context.Context, queue, schedule string) (*apiServer, error) {
	vars := map[string]string{
		"PAYORCH_DATABASE_URL": e.DBURL, "PAYORCH_TEMPORAL_ADDRESS": e.TemporalAddr,
		"PAYORCH_TASK_QUEUE": queue, "PAYORCH_RETRY_SCHEDULE": schedule,
		"PAYORCH_API_KEYS": "backend:" + backendKey, "PAYORCH_LOG_LEVEL": "error",
		"PAYORCH_PORTAL_SECRET": portalSecret, "PAYORCH_DATA_DIR": filepath.Join(e.tmp, "data"),
	}
	cfg, err := config.FromLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	pool, err := store.OpenWith(ctx, cfg.DatabaseURL, store.PoolOptions{
		MaxConns: cfg.DatabaseMaxConns, LockTimeout: cfg.DatabaseLockTimeout, StatementTimeout: cfg.DatabaseStatementTimeout})
	if err != nil {
		return nil, err
	}
	a := &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Pool: pool, Temporal: e.Temporal}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &apiServer{URL: "http://" + l.Addr().String(), pool: pool,
		srv:  &http.Server{Handler: api.New(a.APIDeps()).Handler(), ReadHeaderTimeout: 10 * time.Second},
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the API.
func (s *apiServer) Close() {
	_ = s.srv.Close()
	s.pool.Close()
}

// call sends one request with the backend key (and an Idempotency-Key when key is not
// empty) and decodes the answer into out; it returns the status code.
func (s *apiServer) call(ctx context.Context, method, path, key string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+backendKey)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// quietLogger drops the Temporal SDK's client logs.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

// scalar runs a one-value query.
func (e *benchEnv) scalar(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := e.Pool.QueryRow(ctx, query, args...).Scan(&n)
	return n, err
}

// waitFor polls cond every interval until it is true, the deadline passes or the process
// (when given) exits.
func waitFor(ctx context.Context, what string, timeout time.Duration, p *process, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s: the worker exited:\n%s", what, tail(p.logs.String(), 4000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
