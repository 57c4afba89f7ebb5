package sandbox

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Rules are a Policy resolved to addresses, inside the container.
type Rules struct {
	Allow  []netip.AddrPort // TCP endpoints the function may reach
	DNS    []netip.Addr     // its nameservers (UDP and TCP 53)
	Egress bool
}

// refused are the IPv4 ranges an env lives in (its Docker or CNI networks,
// the host's LAN, cloud metadata at 169.254.169.254): a function reaches
// none of them except its Allow endpoints. Loopback is the container's own.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/3"), // multicast and reserved
}

// Program is the rule list of the container's output chain, in order; the
// chain's policy accepts what no rule decides (public addresses, with
// egress on). IPv6 is refused whole but on loopback: Docker and CNI give
// functions IPv4 only, and an unexpected v6 route must not open a path
// around the IPv4 rules.
func (r Rules) Program() [][]expr.Any {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	prog := [][]expr.Any{
		{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")}, accept},
		// Replies of connections the rules below let through.
		{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: nativeUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: nativeUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: nativeUint32(0)},
			accept,
		},
	}
	for _, ap := range r.Allow {
		prog = append(prog, append(toPort(ap.Addr(), unix.IPPROTO_TCP, ap.Port()), accept))
	}
	for _, ns := range r.DNS {
		prog = append(prog,
			append(toPort(ns, unix.IPPROTO_UDP, 53), accept),
			append(toPort(ns, unix.IPPROTO_TCP, 53), accept))
	}
	prog = append(prog, append(nfproto(unix.NFPROTO_IPV6), drop))
	for _, p := range refused {
		prog = append(prog, append(daddrIn(p), drop))
	}
	if !r.Egress {
		prog = append(prog, []expr.Any{drop})
	}
	return prog
}

// toPort matches packets to addr on proto/port.
func toPort(addr netip.Addr, proto byte, port uint16) []expr.Any {
	family, offset := byte(unix.NFPROTO_IPV4), uint32(16)
	if !addr.Unmap().Is4() {
		family, offset = unix.NFPROTO_IPV6, 24
	}
	raw := addr.Unmap().AsSlice()
	return append(nfproto(family),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(raw))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: raw},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	)
}

// daddrIn matches IPv4 packets whose destination is inside p.
func daddrIn(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	return append(nfproto(unix.NFPROTO_IPV4),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()},
	)
}

// nfproto matches packets of one address family (NFPROTO_IPV4, _IPV6).
func nfproto(family byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family}}}
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ, NUL padded).
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func nativeUint32(v uint32) []byte {
	return binary.NativeEndian.AppendUint32(nil, v)
}
