package sandbox

import (
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
	}{
		{name: "egress on", p: Policy{UID: LambdaUID, GID: LambdaGID, Allow: []string{"gateway:9001", "s3-storage:7070"}, Egress: true}},
		{name: "egress off, nothing allowed", p: Policy{UID: 1, GID: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.p.Args(), "/lambda-entrypoint.sh", "app.handler")
			require.Equal(t, Path, args[0])
			got, cmd, err := Parse(args[1:])
			require.NoError(t, err)
			assert.Equal(t, tt.p, got)
			assert.Equal(t, []string{"/lambda-entrypoint.sh", "app.handler"}, cmd)
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "root", args: []string{"--uid=0", "--gid=990", "--egress=all", "--", "x"}, want: "non-zero"},
		{name: "no command", args: []string{"--uid=993", "--gid=990", "--egress=all", "--"}, want: "no command"},
		{name: "no separator", args: []string{"--uid=993", "--gid=990", "--egress=all", "x"}, want: "want --key=value"},
		{name: "missing egress", args: []string{"--uid=993", "--gid=990", "--", "x"}, want: "required"},
		{name: "bad egress", args: []string{"--uid=993", "--gid=990", "--egress=some", "--", "x"}, want: "want all or none"},
		{name: "allow without port", args: []string{"--uid=993", "--gid=990", "--allow=gateway", "--egress=all", "--", "x"}, want: "want host:port"},
		{name: "unknown flag", args: []string{"--uid=993", "--gid=990", "--caps=all", "--egress=all", "--", "x"}, want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.args)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestProgram(t *testing.T) {
	r := Rules{
		Allow: []netip.AddrPort{netip.MustParseAddrPort("172.18.0.5:9001")},
		DNS:   []netip.Addr{netip.MustParseAddr("127.0.0.11")},
	}
	closed := r.Program()
	r.Egress = true
	open := r.Program()

	// loopback, replies, 1 endpoint, DNS over UDP and TCP, IPv6, the refused ranges; a final drop without egress.
	fixed := 2 + 1 + 2 + 1 + len(refused)
	require.Len(t, open, fixed)
	require.Len(t, closed, fixed+1)
	assert.Equal(t, []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}, closed[len(closed)-1], "egress none ends in a drop of everything")

	verdict := func(rule []expr.Any) expr.VerdictKind { return rule[len(rule)-1].(*expr.Verdict).Kind }
	for i, rule := range open {
		want := expr.VerdictAccept
		if i >= 5 {
			want = expr.VerdictDrop
		}
		assert.Equal(t, want, verdict(rule), "rule %d", i)
	}
	// The endpoint's rule matches its address and port, nothing wider.
	assert.Contains(t, open[2], &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{172, 18, 0, 5}})
	assert.Contains(t, open[2], &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x23, 0x29}})
	// 172.16.0.0/12 is refused by mask and network.
	var found bool
	for _, rule := range open[6:] {
		for _, e := range rule {
			if b, ok := e.(*expr.Bitwise); ok && assert.ObjectsAreEqual([]byte{255, 240, 0, 0}, b.Mask) {
				found = assert.Contains(t, rule, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{172, 16, 0, 0}})
			}
		}
	}
	assert.True(t, found, "172.16.0.0/12 refused")
}
