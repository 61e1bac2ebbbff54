package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"payorch/internal/testenv"
	"payorch/migrations"
	"payorch/store"
)

const (
	backendKey   = "chaos_backend_key"
	portalSecret = "chaos-portal-secret-0123456789abcdef0123456789"
	taskQueue    = "chaos-invoices"
)

// stack is one chaos run's real parts: a throwaway PostgreSQL cluster (restartable), a
// Temporal dev server, and the payorch API and worker binaries built from this tree, run
// as subprocesses on loopback so they can be killed with SIGKILL and started again.
type stack struct {
	root         string
	tmp          string
	pg           *testenv.Postgres
	dbURL        string
	pool         *pgxpool.Pool
	dev          *testsuite.DevServer
	temporal     client.Client
	temporalAddr string
	apiAddr      string
	apiBin       string
	workerBin    string
	k            knobs

	mu     sync.Mutex
	api    *process
	worker *process
	// unexpected lists processes that exited without being told to (a crash).
	unexpected []string
}

func startStack(ctx context.Context, k knobs) (*stack, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "payorch-chaos-")
	if err != nil {
		return nil, err
	}
	s := &stack{root: root, tmp: tmp, k: k}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	// Build the binaries while PostgreSQL and Temporal start.
	built := make(chan error, 1)
	go func() { built <- s.build(ctx) }()
	if s.pg, err = testenv.StartPostgres(ctx); err != nil {
		return nil, err
	}
	admin, err := pgxpool.New(ctx, s.pg.AdminURL)
	if err != nil {
		return nil, err
	}
	// testenv's cluster runs with synchronous_commit=off (tests never crash it): a commit
	// acknowledged up to wal_writer_delay before an immediate shutdown would be lost, and
	// the chaos run would report what PostgreSQL's own setting forgot. This database
	// commits durably (a per-database setting outranks the server's -c). fsync=off stays:
	// a killed process does not lose what the kernel already has.
	_, err = admin.Exec(ctx, "CREATE DATABASE chaos")
	if err == nil {
		_, err = admin.Exec(ctx, "ALTER DATABASE chaos SET synchronous_commit = on")
	}
	admin.Close()
	if err != nil {
		return nil, err
	}
	s.dbURL = s.pg.URL("chaos")
	if _, err := migrations.Apply(ctx, s.dbURL); err != nil {
		return nil, err
	}
	if s.pool, err = store.OpenWith(ctx, s.dbURL, store.PoolOptions{MaxConns: 8}); err != nil {
		return nil, err
	}
	if err := s.startDevServer(ctx); err != nil {
		return nil, err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	s.apiAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := <-built; err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *stack) build(ctx context.Context) error {
	s.apiBin, s.workerBin = filepath.Join(s.tmp, "apiserver"), filepath.Join(s.tmp, "worker")
	for _, b := range []struct{ out, pkg string }{{s.apiBin, "./apiserver"}, {s.workerBin, "./worker"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = s.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

func (s *stack) startDevServer(ctx context.Context) error {
	bin, err := testenv.TemporalBinary(s.root)
	if err != nil {
		return err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	var out io.Writer = io.Discard
	if os.Getenv("PAYORCH_TEST_VERBOSE") != "" {
		out = os.Stderr
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", port), Namespace: "default", Logger: quietLogger{}},
		LogLevel:      "error",
		ExtraArgs:     testenv.DevServerArgs(),
		Stdout:        out,
		Stderr:        out,
	})
	if err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	s.dev, s.temporal, s.temporalAddr = srv, srv.Client(), srv.FrontendHostPort()
	return nil
}

// env is the environment both payorch processes run with: this run's database, Temporal
// and task queue, the short retry schedule, the SEPA delay, fast outbox and sweeper polls,
// webhooks allowed to the loopback receiver.
func (s *stack) env() []string {
	return append(os.Environ(),
		"PAYORCH_DATABASE_URL="+s.dbURL,
		"PAYORCH_TEMPORAL_ADDRESS="+s.temporalAddr,
		"PAYORCH_TASK_QUEUE="+taskQueue,
		"PAYORCH_HTTP_ADDR="+s.apiAddr,
		"PAYORCH_API_KEYS=backend:"+backendKey,
		"PAYORCH_RETRY_SCHEDULE="+s.k.Schedule,
		"PAYORCH_SIM_SEPA_DELAY="+s.k.SEPADelay.String(),
		"PAYORCH_OUTBOX_POLL_INTERVAL=200ms",
		"PAYORCH_SWEEP_INTERVAL=1s",
		"PAYORCH_SWEEP_GRACE=3s",
		"PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true",
		"PAYORCH_WORKER_METRICS_ADDR=",
		"PAYORCH_LOG_FORMAT=text",
		"PAYORCH_LOG_LEVEL=error",
		"PAYORCH_DATA_DIR="+filepath.Join(s.tmp, "data"),
		"PAYORCH_PORTAL_SECRET="+portalSecret,
		"STRIPE_SECRET_KEY=",
	)
}

// process is a payorch subprocess.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	// stopping is set before the run kills or stops it (an exit is then expected).
	stopping bool
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

func (s *stack) spawn(name, bin string) (*process, error) {
	p := &process{name: name, logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = s.env()
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		s.mu.Lock()
		if !p.stopping {
			s.unexpected = append(s.unexpected, fmt.Sprintf("%s (pid %d) exited on its own: %s\n%s",
				name, p.cmd.Process.Pid, p.cmd.ProcessState, tail(p.logs.String(), 3000)))
		}
		s.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// startWorker starts the worker (none may be running).
func (s *stack) startWorker() error {
	p, err := s.spawn("worker", s.workerBin)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.worker = p
	s.mu.Unlock()
	return nil
}

// killWorker kills the worker's process group with SIGKILL, as a crash would.
func (s *stack) killWorker() { s.kill(&s.worker, syscall.SIGKILL) }

// startAPI starts the API on its fixed loopback port and waits until it answers.
func (s *stack) startAPI(ctx context.Context) error {
	p, err := s.spawn("apiserver", s.apiBin)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.api = p
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get("http://" + s.apiAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("the API exited at start:\n%s", tail(p.logs.String(), 3000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API did not answer /healthz within 60 s:\n%s", tail(p.logs.String(), 3000))
		}
	}
}

// stopAPI stops the API: SIGKILL when hard, else SIGTERM (graceful shutdown).
func (s *stack) stopAPI(hard bool) {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	s.kill(&s.api, sig)
}

func (s *stack) kill(pp **process, sig syscall.Signal) {
	s.mu.Lock()
	p := *pp
	*pp = nil
	if p != nil {
		p.stopping = true
	}
	s.mu.Unlock()
	if p == nil {
		return
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	} else {
		_ = p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// crashes returns what exited without being told to.
func (s *stack) crashes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

// Stop stops everything startStack started.
func (s *stack) Stop() {
	s.stopAPI(false)
	s.kill(&s.worker, syscall.SIGTERM)
	if s.pool != nil {
		s.pool.Close()
	}
	if s.dev != nil {
		_ = s.dev.Stop()
	}
	if s.pg != nil {
		s.pg.Stop()
	}
	_ = os.RemoveAll(s.tmp)
}

// loopback returns a listener on 127.0.0.1 (the webhook receiver's).
func loopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// quietLogger drops the Temporal SDK's client logs.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
