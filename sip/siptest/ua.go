package siptest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// UA is a SIP user agent on one UDP socket that places calls to one server.
type UA struct {
	conn   *net.UDPConn
	server netip.AddrPort
	local  netip.AddrPort
	done   sync.WaitGroup

	mu    sync.Mutex
	calls map[string]*Call // by Call-ID
}

// NewUA listens on a random UDP port of the server's own address family and
// interface (the server is expected on the same host or network) and starts
// reading.
func NewUA(server netip.AddrPort) (*UA, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(server.Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("listen sip: %w", err)
	}
	u := &UA{
		conn:   conn,
		server: server,
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		calls:  make(map[string]*Call),
	}
	u.done.Add(1)
	go u.read()
	return u, nil
}

// Addr returns the local SIP address.
func (u *UA) Addr() netip.AddrPort { return u.local }

// Close closes the SIP socket. Calls still open lose their signalling but
// keep their RTP socket until their own Close.
func (u *UA) Close() error {
	err := u.conn.Close()
	u.done.Wait()
	return err
}

func (u *UA) send(msg []byte) error {
	if _, err := u.conn.WriteToUDPAddrPort(msg, u.server); err != nil {
		return fmt.Errorf("send sip: %w", err)
	}
	return nil
}

// read dispatches responses to their calls and answers requests from the
// server (a BYE) with 200 OK.
func (u *UA) read() {
	defer u.done.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := parseMessage(buf[:n])
		if err != nil {
			continue
		}
		u.mu.Lock()
		c := u.calls[m.header("call-id")]
		u.mu.Unlock()
		if m.status == 0 {
			_, _ = u.conn.WriteToUDPAddrPort(m.reply(200, "OK"), from)
			if c != nil && m.method == "BYE" {
				c.hungUp()
			}
			continue
		}
		if c != nil {
			c.deliver(m)
		}
	}
}

func (u *UA) register(c *Call) {
	u.mu.Lock()
	u.calls[c.callID] = c
	u.mu.Unlock()
}

func (u *UA) unregister(c *Call) {
	u.mu.Lock()
	delete(u.calls, c.callID)
	u.mu.Unlock()
}
