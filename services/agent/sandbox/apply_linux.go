//go:build linux

package sandbox

import (
	"fmt"

	"github.com/google/nftables"
)

// tableName is the nftables table sandboxinit owns in a function's
// network namespace.
const tableName = "esb_sandbox"

// Apply installs r in the network namespace of the calling process, in one
// netlink transaction: either every rule is in place or none is.
func Apply(r Rules) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: tableName})
	accept := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name:     "output",
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	})
	for _, exprs := range r.Program() {
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: install table %s: %w", tableName, err)
	}
	return nil
}
