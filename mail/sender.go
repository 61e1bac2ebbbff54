package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender hands a message over for delivery and says where it went.
type Sender interface {
	// Send delivers msg, whose idempotency key is eventID, and returns where it went.
	Send(ctx context.Context, msg *gomail.Msg, eventID string) (location string, err error)
}

// PermanentError marks a send that must not be retried (the server refused the message
// or the recipient for good).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// SMTPSender sends over SMTP with go-mail: STARTTLS when the server offers it (smtp://),
// or implicit TLS (smtps://); authentication when the URL has a user.
type SMTPSender struct {
	host     string
	port     int
	implicit bool
	user     string
	pass     string
	// TLSConfig overrides the TLS settings (tests trust their own certificate with it).
	TLSConfig *tls.Config
	// Timeout bounds a connection and each command.
	Timeout time.Duration
}

// NewSMTPSender parses smtp://[user:pass@]host[:port] (default port 587, STARTTLS when
// offered) or smtps://[user:pass@]host[:port] (default port 465, TLS from the start).
func NewSMTPSender(rawURL string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	s := &SMTPSender{host: u.Hostname(), Timeout: 30 * time.Second}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, errors.New("must start with smtp:// or smtps://")
	}
	if s.host == "" {
		return nil, errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a TCP port", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, errors.New("takes no path or query")
	}
	return s, nil
}

// Addr is host:port of the server.
func (s *SMTPSender) Addr() string { return s.host + ":" + strconv.Itoa(s.port) }

// Send delivers msg in one SMTP session.
func (s *SMTPSender) Send(ctx context.Context, msg *gomail.Msg, _ string) (string, error) {
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.Timeout)}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.TLSConfig))
	}
	if s.user != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN only over TLS.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return "", &PermanentError{Err: fmt.Errorf("smtp client: %w", err)}
	}
	loc := "smtp://" + s.Addr()
	if s.implicit {
		loc = "smtps://" + s.Addr()
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if permanent(err) {
			return loc, &PermanentError{Err: err}
		}
		return loc, err
	}
	return loc, nil
}

// DirSender is the development default: each message is written as <dir>/<event id>.eml
// (atomically, so a message exists once however often it is written).
type DirSender struct {
	Dir string
}

// Send writes msg to the folder and returns the file's path.
func (d DirSender) Send(_ context.Context, msg *gomail.Msg, eventID string) (string, error) {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(d.Dir, eventID+".eml")
	tmp, err := os.CreateTemp(d.Dir, "."+eventID+"-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return abs, nil
}

// permanent reports whether the server refused the recipient or the message itself with a
// 5xx: sending it again cannot help. Everything else (connection, TLS, authentication,
// MAIL FROM, 4xx) may be fixed by time or by the operator, and is retried.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.IsTemp() || se.ErrorCode() < 500 {
		return false
	}
	switch se.Reason {
	case gomail.ErrGetRcpts, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}
