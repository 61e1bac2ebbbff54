package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"payorch/internal/app"
	"payorch/portal"
)

// portalLink mints a portal session for a customer and prints its URL (stdout) and when
// it expires (stderr).
func portalLink(ctx context.Context, args []string, out, info io.Writer) error {
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, "usage: starter portal CUSTOMER_ID") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "cus_") {
		fs.Usage()
		return errors.New("one customer id (cus_…) expected")
	}
	a, err := app.Boot(ctx, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.PortalSessions().Create(ctx, fs.Arg(0), portal.PurposeAPI)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, s.URL)
	fmt.Fprintf(info, "portal session %s for %s, valid until %s (revoke: DELETE /v1/portal-sessions/%s)\n",
		s.ID, s.CustomerID, s.ExpiresAt.Format("2006-01-02 15:04 MST"), s.ID)
	return nil
}
