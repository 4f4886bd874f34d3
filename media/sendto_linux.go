//go:build linux

package media

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

// packetWriter sends one session's datagrams with sendto(2) made as a raw
// system call.
//
// A pacer sends the packets of a thousand sessions or more per tick from one
// goroutine. Through net.UDPConn each send enters the scheduler as a
// potentially blocking system call, and whenever one is slow the runtime
// hands the pacer's P to another thread: the rest of the tick then waits to
// be scheduled again, which shows as jitter on every later packet. A UDP
// sendto on a non-blocking socket never sleeps, so it is made raw and the
// pacer keeps its P for the whole tick. A full socket buffer (EAGAIN) drops
// the packet instead of parking the pacer until the socket is writable.
//
// RawConn.Write holds the socket's reference for the call, so a session
// closed meanwhile fails cleanly rather than writing to a reused descriptor.
type packetWriter struct {
	rc    syscall.RawConn
	write func(fd uintptr) bool // bound once, so a send does not allocate
	v6    bool                  // the socket is AF_INET6
	peer  *peer                 // the peer the address below was built for
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	pkt   []byte
	errno syscall.Errno
}

// send writes pkt to p.remote from conn.
func (w *packetWriter) send(conn *net.UDPConn, pkt []byte, p *peer) error {
	if w.rc == nil {
		rc, err := conn.SyscallConn()
		if err != nil {
			return fmt.Errorf("send rtp: %w", err)
		}
		w.rc = rc
		w.write = w.sendto
		if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
			w.v6 = true
		}
	}
	if p.remote.Addr().Zone() != "" {
		// A scoped IPv6 peer needs its interface index: leave it to net.
		_, err := conn.WriteToUDPAddrPort(pkt, p.remote)
		return err
	}
	if w.peer != p {
		w.setPeer(p)
	}
	w.pkt = pkt
	if err := w.rc.Write(w.write); err != nil {
		return fmt.Errorf("send rtp: %w", err)
	}
	if w.errno != 0 {
		return fmt.Errorf("send rtp: %w", w.errno)
	}
	return nil
}

func (w *packetWriter) setPeer(p *peer) {
	w.peer = p
	port := p.remote.Port()
	if w.v6 {
		w.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: p.remote.Addr().As16()}
		bigEndianPort(&w.sa6.Port, port)
		return
	}
	w.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: p.remote.Addr().As4()}
	bigEndianPort(&w.sa4.Port, port)
}

// bigEndianPort stores port in network byte order, as sockaddr wants it.
func bigEndianPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

// sendto is the RawConn.Write callback. It always reports done: the pacer
// never waits for the socket to become writable.
func (w *packetWriter) sendto(fd uintptr) bool {
	sa, salen := unsafe.Pointer(&w.sa4), uintptr(syscall.SizeofSockaddrInet4)
	if w.v6 {
		sa, salen = unsafe.Pointer(&w.sa6), uintptr(syscall.SizeofSockaddrInet6)
	}
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(w.pkt))), uintptr(len(w.pkt)),
			0, uintptr(sa), salen)
		if errno == syscall.EINTR {
			continue
		}
		w.errno = errno
		return true
	}
}
