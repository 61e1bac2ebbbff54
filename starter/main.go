// Command starter is the operator's command-line client: it talks to Temporal and
// PostgreSQL with the same configuration as the other processes.
//
//	go run ./starter migrate        apply the database migrations
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"payorch/config"
	"payorch/migrations"
)

const usage = `usage: starter <command> [flags]

commands:
  migrate     apply the database migrations to PAYORCH_DATABASE_URL

Configuration comes from the PAYORCH_* environment variables (see README).
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
	var err error
	switch flag.Arg(0) {
	case "migrate":
		err = migrate(ctx)
	case "help", "-h", "--help":
		flag.Usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
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
