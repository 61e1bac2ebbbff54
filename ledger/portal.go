package ledger

import (
	"context"
	"fmt"

	"payorch/apperr"
	"payorch/money"
	"payorch/store"
)

// CustomerWallet returns the customer's wallet (404 wallet when the customer has none).
func (l *Ledger) CustomerWallet(ctx context.Context, customerID string) (Wallet, error) {
	row, err := store.New(l.pool).GetWalletByCustomer(ctx, customerID)
	if store.IsNoRows(err) {
		return Wallet{}, apperr.New(apperr.NotFound, "wallet_missing", "you have no wallet yet")
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("get wallet by customer: %w", err)
	}
	return l.GetWallet(ctx, row.ID)
}

// PortalLimitsView are the portal limits in the wallet's currency, as the portal shows them.
type PortalLimitsView struct {
	// MaxLoad is the largest single portal top-up.
	MaxLoad string `json:"max_load"`
	// MaxBalance is the largest balance a portal top-up may lead to.
	MaxBalance string `json:"max_balance"`
	// Enabled is the wallet's portal_top_up setting.
	Enabled bool `json:"enabled"`
}

// PortalLimitsFor returns the limits that apply to portal top-ups of w.
func (l *Ledger) PortalLimitsFor(w Wallet) PortalLimitsView {
	return PortalLimitsView{
		MaxLoad: money.Format(l.PortalLimits.MaxLoad, w.Currency), MaxBalance: money.Format(l.PortalLimits.MaxBalance, w.Currency),
		Enabled: w.Settings.PortalTopUp,
	}
}
