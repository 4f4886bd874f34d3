//go:build !linux

package media

import "net"

// packetWriter sends one session's datagrams through net.UDPConn.
type packetWriter struct{}

// send writes pkt to p.remote from conn.
func (w *packetWriter) send(conn *net.UDPConn, pkt []byte, p *peer) error {
	_, err := conn.WriteToUDPAddrPort(pkt, p.remote)
	return err
}
