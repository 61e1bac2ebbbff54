package mail

import (
	"context"
	"net/url"
	"regexp"
	"testing"
	"time"

	"payorch/outbox"
	"payorch/portal"
)

// TestEmailCarriesSignedPortalLink: the portal link of a payment-failed email is a signed
// link minted when the email is sent, that opens that customer's portal and no other.
func TestEmailCarriesSignedPortalLink(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	ada := f.customer("Ada", "ada@example.com", "en")
	f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_expired", ""))
	sessions := portal.NewSessions(f.pool, []byte("0123456789abcdef0123456789abcdef"), "https://portal.acme.test/portal", time.Hour, 72*time.Hour)
	m := f.smtpMailer(srv)
	m.PortalLink = sessions.Link
	if st := f.run(m); st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	p := parse(t, srv.messages()[0].Raw)
	link := regexp.MustCompile(`https://portal\.acme\.test/portal\?token=\S+`).FindString(p.Text)
	if link == "" {
		t.Fatalf("no signed portal link in:\n%s", p.Text)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	who, err := sessions.Authenticate(context.Background(), u.Query().Get("token"))
	if err != nil || who.CustomerID != ada {
		t.Fatalf("the link opens %+v (%v), want customer %s", who, err, ada)
	}
	if d := time.Until(who.ExpiresAt); d < 71*time.Hour || d > 72*time.Hour {
		t.Fatalf("email link expires in %s, want the email lifetime (72h)", d)
	}
}
