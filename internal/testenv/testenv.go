// Package testenv starts the real parts integration tests run against: a throwaway
// PostgreSQL cluster (initdb in a temporary directory, a free loopback port) and a Temporal
// dev server (the CLI pinned in tools/temporal, built into .bin/temporal). Both are stopped
// when the test binary ends. Use it from TestMain:
//
//	var env *testenv.Env
//	func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }
//
// A package whose tests import testenv is left out of `make test-fast`
// (scripts/fast-packages.sh). To wait for something in a test, use package poll
// (internal/testenv/poll), which starts nothing.
package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"payorch/contracts"
	"payorch/migrations"
	"payorch/store"
)

// Options chooses which real parts a test package needs.
type Options struct {
	// Temporal starts a dev server too (PostgreSQL always starts).
	Temporal bool
}

// Env is what a test package gets.
type Env struct {
	// Postgres is the throwaway cluster; NewDatabase gives each test its own database.
	Postgres *Postgres
	// TemporalAddress is the dev server's frontend host:port (empty without Temporal).
	TemporalAddress string
	// Temporal is a client of the dev server, namespace "default".
	Temporal client.Client
	// RepoRoot is the repository root.
	RepoRoot string

	devServer *testsuite.DevServer
}

// Main starts the environment, runs the tests and stops everything.
func Main(m *testing.M, env **Env, opts Options) {
	code := func() int {
		e, err := Start(context.Background(), opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		defer e.Stop()
		*env = e
		return m.Run()
	}()
	os.Exit(code)
}

// Start brings up the requested parts.
func Start(ctx context.Context, opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{RepoRoot: root}
	e.Postgres, err = StartPostgres(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Temporal {
		if err := e.startTemporal(ctx); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// Stop stops every process Start started.
func (e *Env) Stop() {
	if e.Temporal != nil {
		e.Temporal.Close()
	}
	if e.devServer != nil {
		_ = e.devServer.Stop()
	}
	if e.Postgres != nil {
		e.Postgres.Stop()
	}
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "tools", "temporal")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repository root not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TemporalBinary returns the path of the pinned Temporal CLI, failing with the command to
// build it when it is missing.
func TemporalBinary(root string) (string, error) {
	p := filepath.Join(root, ".bin", "temporal")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is missing: run `make tools` (builds the pinned Temporal CLI, ~3 min the first time)", p)
	}
	return p, nil
}

func (e *Env) startTemporal(ctx context.Context) error {
	bin, err := TemporalBinary(e.RepoRoot)
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := DevServerArgs()
	var out io.Writer = io.Discard
	if os.Getenv("PAYORCH_TEST_VERBOSE") != "" {
		out = os.Stderr
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: addr, Namespace: "default", Logger: quietLogger{}},
		LogLevel:      "error",
		ExtraArgs:     args,
		Stdout:        out,
		Stderr:        out,
	})
	if err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	e.devServer = srv
	e.TemporalAddress = srv.FrontendHostPort()
	e.Temporal = srv.Client()
	return nil
}

// Postgres is a throwaway PostgreSQL cluster with a migrated template database.
type Postgres struct {
	dir  string
	port int
	cmd  *exec.Cmd
	// start builds the postmaster's command again (Restart); exited closes when cmd exits.
	start  func() *exec.Cmd
	exited chan struct{}
	// AdminURL connects to the maintenance database.
	AdminURL string
	admin    *pgxpool.Pool
	counter  atomic.Int64
}

const templateDB = "payorch_template"

// pgBinDir finds the PostgreSQL server binaries (PATH first, then Debian's layout).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found: run `make deps` (apt-get install postgresql)")
}

// StartPostgres initialises and starts a cluster in a temporary directory. As root, the
// cluster runs as the postgres user (initdb refuses root).
func StartPostgres(ctx context.Context) (*Postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "payorch-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-k", dir, "-h", "127.0.0.1",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=300", "-c", "shared_buffers=128MB")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	cmd := start()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{dir: dir, port: port, start: start,
		AdminURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.watch(cmd)
	if err := p.waitReady(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		p.Stop()
		return nil, fmt.Errorf("postgres did not become ready: %w\n%s", err, log)
	}
	if _, err := p.admin.Exec(ctx, "CREATE DATABASE "+templateDB); err != nil {
		p.Stop()
		return nil, fmt.Errorf("create template database: %w", err)
	}
	if _, err := migrations.Apply(ctx, p.URL(templateDB)); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the cluster: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pool, err := pgxpool.New(ctx, p.AdminURL)
		if err == nil {
			if err = pool.Ping(ctx); err == nil {
				p.admin = pool
				return nil
			}
			pool.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns the connection string of a database on the cluster.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// NewDatabase creates a fresh, migrated database for one test (a copy of the template)
// and drops it when the test ends. It returns the database's URL.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", p.counter.Add(1), sanitize(t.Name()))
	ctx := context.Background()
	if _, err := p.admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), templateDB)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = p.admin.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize()))
	})
	return p.URL(name)
}

// NewPool creates a fresh database (NewDatabase) and a pool on it, closed at the end of the test.
func (p *Postgres) NewPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := p.NewDatabase(t)
	pool, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

func sanitize(s string) string {
	s = strings.ToLower(s)
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b = append(b, r)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// Restart stops the postmaster as `pg_ctl stop -m <mode>` would — "fast" (SIGINT: clients
// are disconnected, a clean shutdown) or "immediate" (SIGQUIT: no shutdown checkpoint, crash
// recovery at the next start) — and starts it again on the same data directory and port,
// as the same user. It returns once the server accepts connections. Open pools see their
// connections fail and reconnect. The chaos run (chaos/) uses it.
func (p *Postgres) Restart(ctx context.Context, mode string) error {
	sig := syscall.SIGINT
	switch mode {
	case "fast":
	case "immediate":
		sig = syscall.SIGQUIT
	default:
		return fmt.Errorf("postgres restart: mode %q is not fast or immediate", mode)
	}
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("postgres restart: not running")
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := p.start()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("postgres restart: %w", err)
		}
		p.watch(cmd)
		for time.Now().Before(deadline) {
			if err := p.admin.Ping(ctx); err == nil {
				return nil
			}
			select {
			case <-p.exited: // e.g. the old postmaster's children still held the port
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres restart: not ready after 30 s (see %s)", filepath.Join(p.dir, "postgres.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// watch makes cmd the running postmaster; p.exited closes when it exits.
func (p *Postgres) watch(cmd *exec.Cmd) {
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() { _ = cmd.Wait(); close(exited) }()
}

// Stop stops the cluster and removes its directory.
func (p *Postgres) Stop() {
	if p.admin != nil {
		p.admin.Close()
	}
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	_ = os.RemoveAll(p.dir)
}

// DevServerArgs are the flags every dev server of the project starts with: one task-queue
// partition (so the dev server's single SQLite writer is measured, not partition
// fan-out) and payorch's search attributes.
func DevServerArgs() []string {
	return append([]string{
		"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
		"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
	}, contracts.SearchAttributeFlags...)
}
