package api

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageClient is a browser-like HTTP client (cookies, no redirects followed by itself).
type pageClient struct {
	t  *testing.T
	c  *http.Client
	ts *httptest.Server
}

func newPageClient(t *testing.T, h *invoiceHarness) *pageClient {
	t.Helper()
	ts := httptest.NewServer(h.srv.Handler())
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	return &pageClient{t: t, ts: ts, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *pageClient) get(path string) (int, string) {
	p.t.Helper()
	r, err := p.c.Get(p.ts.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func (p *pageClient) post(path string, form url.Values) (int, string) {
	p.t.Helper()
	r, err := p.c.PostForm(p.ts.URL+path, form)
	if err != nil {
		p.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestPortalPage: the link sets a cookie and leaves the address bar; the page shows the
// wallet, invoices and card; forms need the page's csrf value; refusals are in plain
// words; another customer's PDF is a 404; sign-out revokes the session.
func TestPortalPage(t *testing.T) {
	h := newPortalHarness(t)
	ada, _, token := h.portalCustomer("pm_card_visa", true)
	bob, _, _ := h.portalCustomer("pm_card_visa", true)
	adaInv := h.invoice(ada, map[string]any{"payment_method": "bank_transfer"})
	bobInv := h.invoice(bob, map[string]any{"payment_method": "bank_transfer"})
	p := newPageClient(t, h)

	if st, body := p.get("/portal"); st != 401 || !strings.Contains(body, "Your session has ended") {
		t.Fatalf("no session: %d %s", st, body)
	}
	if st, body := p.get("/portal?token=" + url.QueryEscape(token+"x")); st != 401 || !strings.Contains(body, "This link is not valid") {
		t.Fatalf("tampered link: %d", st)
	}
	r, err := p.c.Get(p.ts.URL + "/portal?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 303 || r.Header.Get("Location") != "/portal" || !strings.Contains(r.Header.Get("Set-Cookie"), "HttpOnly") ||
		!strings.Contains(r.Header.Get("Set-Cookie"), "SameSite=Strict") {
		t.Fatalf("link: %d %v", r.StatusCode, r.Header)
	}
	st, body := p.get("/portal")
	if st != 200 || !strings.Contains(body, `id="balance">0.00 EUR`) || !strings.Contains(body, adaInv["number"].(string)) ||
		strings.Contains(body, bobInv["number"].(string)) || !strings.Contains(body, "At most 100.00 EUR per top-up") {
		t.Fatalf("page %d:\n%s", st, body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]

	if st, _ := p.post("/portal/top-up", url.Values{"amount": {"10.00"}}); st != 403 {
		t.Fatalf("top-up without csrf: %d", st)
	}
	// A top-up answers 303 to the page (post/redirect/get): the page shows the outcome once,
	// and reloading it charges nothing again.
	if st, _ := p.post("/portal/top-up", url.Values{"amount": {"40.00"}, "csrf": {csrf}}); st != 303 {
		t.Fatalf("top-up: %d, want 303", st)
	}
	st, body = p.get("/portal")
	if st != 200 || !strings.Contains(body, "Your wallet was topped up with 40.00 EUR") || !strings.Contains(body, `id="balance">40.00 EUR`) {
		t.Fatalf("after the top-up %d:\n%s", st, body)
	}
	if st, body = p.get("/portal"); st != 200 || strings.Contains(body, "topped up") || !strings.Contains(body, `id="balance">40.00 EUR`) {
		t.Fatalf("reload %d:\n%s", st, body)
	}
	st, body = p.post("/portal/top-up", url.Values{"amount": {"250"}, "csrf": {csrf}})
	if st != 422 || !strings.Contains(body, "A portal load is at most 100.00 EUR") || !strings.Contains(body, `value="250"`) {
		t.Fatalf("over the limit %d:\n%s", st, body)
	}
	// Replacing the card goes through the provider's form (here the simulated one).
	if st, _ := p.post("/portal/card-setup", url.Values{}); st != 403 {
		t.Fatalf("card setup without csrf: %d", st)
	}
	st, body = p.post("/portal/card-setup", url.Values{"csrf": {csrf}})
	if st != 200 || !strings.Contains(body, `id="sim-setup"`) {
		t.Fatalf("card setup %d:\n%s", st, body)
	}
	if st, _ := p.post("/portal/sim/card-setup", url.Values{"csrf": {csrf}, "setup_id": {field(t, setupIDField, body)},
		"client_secret": {field(t, secretField, body)}, "payment_method": {"pm_card_mastercard"}}); st != 303 {
		t.Fatalf("replace card: %d, want 303", st)
	}
	st, body = p.get("/portal")
	if st != 200 || !strings.Contains(body, "Your new card is saved") || !strings.Contains(body, "ending in 4444") {
		t.Fatalf("replace card %d:\n%s", st, body)
	}
	if st, body := p.get("/portal/invoices/" + adaInv["id"].(string) + "/pdf"); st != 200 || !strings.HasPrefix(body, "%PDF") {
		t.Fatalf("own invoice PDF: %d", st)
	}
	if st, _ := p.get("/portal/invoices/" + bobInv["id"].(string) + "/pdf"); st != 404 {
		t.Fatalf("another customer's invoice PDF: %d", st)
	}
	if st, body := p.post("/portal/logout", url.Values{"csrf": {csrf}}); st != 200 || !strings.Contains(body, "You are signed out") {
		t.Fatalf("logout %d", st)
	}
	mustStatus(t, h.do("GET", "/v1/portal/session", token, nil), 401)
	if st, _ := p.get("/portal"); st != 401 {
		t.Fatalf("after sign-out: %d", st)
	}
}

// chromium finds Debian's chromium (scripts/install-chromium.sh installs it).
func chromium() string {
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	return ""
}

// TestPortalPageInBrowser drives the page in headless Chromium: open the emailed link, top
// up, be refused over the limit in plain words, on a phone-sized screen too; replace the
// card through the simulated provider's form by keyboard, then authenticate (simulated
// 3-D Secure) the payment of an invoice whose charge asked for it, on a phone. Screenshots
// go to $PAYORCH_TEST_ARTIFACTS (default .data/test-output/portal).
func TestPortalPageInBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed: run scripts/install-chromium.sh (make deps does)")
	}
	h := newPortalHarness(t)
	cust, walletID, token := h.portalCustomer("pm_card_visa", true)
	inv := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})
	p := newPageClient(t, h)
	dir := os.Getenv("PAYORCH_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(env.RepoRoot, ".data", "test-output")
	}
	dir = filepath.Join(dir, "portal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-first-run", true), chromedp.WindowSize(1200, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			// Quality 100 makes a PNG (below 100, a JPEG).
			if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
				return err
			}
			path := filepath.Join(dir, name)
			t.Logf("screenshot %s", path)
			return os.WriteFile(path, png, 0o644)
		})
	}
	var balance, notice, errText, invoicesText, location string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(p.ts.URL+"/portal?token="+url.QueryEscape(token)),
		chromedp.WaitVisible("#balance", chromedp.ByID),
		chromedp.Location(&location),
		chromedp.Text("#balance", &balance, chromedp.ByID),
		chromedp.Text("#invoices", &invoicesText, chromedp.ByID),
		chromedp.SendKeys("#amount", "60.00", chromedp.ByID),
		chromedp.Click("#top-up button", chromedp.ByQuery),
		chromedp.WaitVisible("#notice", chromedp.ByID),
		chromedp.Text("#notice", &notice, chromedp.ByID),
		chromedp.Text("#balance", &balance, chromedp.ByID),
		shot("1-topped-up-desktop.png"),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if strings.Contains(location, "token=") || !strings.Contains(invoicesText, inv["number"].(string)) {
		t.Fatalf("location %q (the token must leave the address bar), invoices %q", location, invoicesText)
	}
	if !strings.Contains(notice, "topped up with 60.00 EUR") || balance != "60.00 EUR" {
		t.Fatalf("after the top-up: notice %q, balance %q", notice, balance)
	}
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.SendKeys("#amount", "150", chromedp.ByID),
		chromedp.Click("#top-up button", chromedp.ByQuery),
		chromedp.WaitVisible("#error", chromedp.ByID),
		chromedp.Text("#error", &errText, chromedp.ByID),
		chromedp.Text("#balance", &balance, chromedp.ByID),
		shot("2-over-limit-phone.png"),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(errText, "at most 100.00 EUR") || balance != "60.00 EUR" {
		t.Fatalf("over the limit: error %q, balance %q", errText, balance)
	}

	// Replace the card through the (simulated) provider's form, by keyboard: a card that
	// asks for 3-D Secure.
	var cardText string
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Focus("#replace-card button", chromedp.ByQuery),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#sim-setup", chromedp.ByID),
		chromedp.Focus(`input[value="pm_card_authenticationRequired"]`, chromedp.ByQuery),
		chromedp.KeyEvent(" "),
		shot("3-replace-card-desktop.png"),
		chromedp.Click("#sim-setup button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#notice", chromedp.ByID),
		chromedp.Text("#notice", &notice, chromedp.ByID),
		chromedp.Text("#card", &cardText, chromedp.ByID),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(notice, "Your new card is saved") || !strings.Contains(cardText, "ending in 3184") {
		t.Fatalf("after the card form: notice %q, card %q", notice, cardText)
	}

	// An invoice charged on that card waits for authentication; the customer approves the
	// (simulated) 3-D Secure challenge on a phone, and the invoice is paid.
	// (The wallet stops paying invoices first, so the card is charged.)
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+walletID, backendKey, map[string]any{"settings": map[string]any{"auto_debit": false}}), 200)
	cardInv := h.invoice(cust, nil)
	h.waitInvoice(cardInv["id"].(string), "the authentication_required decline", authFailed)
	var challenge string
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(p.ts.URL+"/portal"),
		chromedp.WaitVisible(`button[aria-label="Authenticate payment of invoice `+cardInv["number"].(string)+`"]`, chromedp.ByQuery),
		chromedp.Click(`button[aria-label="Authenticate payment of invoice `+cardInv["number"].(string)+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#sim-challenge", chromedp.ByID),
		chromedp.Text("#authenticate", &challenge, chromedp.ByID),
		shot("4-authenticate-phone.png"),
		chromedp.Focus("#approve", chromedp.ByID),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible("#notice", chromedp.ByID),
		chromedp.Text("#notice", &notice, chromedp.ByID),
		chromedp.Text("#invoices", &invoicesText, chromedp.ByID),
		shot("5-authenticated-paid-phone.png"),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(challenge, "30.00 EUR") || !strings.Contains(notice, "the invoice is paid") || strings.Contains(invoicesText, "Authenticate payment") {
		t.Fatalf("authentication: challenge %q, notice %q, invoices %q", challenge, notice, invoicesText)
	}
	if got := h.do("GET", "/v1/invoices/"+cardInv["id"].(string), supportKey, nil).JSON(t); got["status"] != "paid" {
		t.Fatalf("invoice after the authentication: %v", got)
	}
}
