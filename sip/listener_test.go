package sip

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestIdleListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newIdleListener(inner, 150*time.Millisecond)
	defer ln.Close()

	dial := func() (client, server net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}

	t.Run("idle connection times out", func(t *testing.T) {
		_, s := dial()
		start := time.Now()
		_, err := s.Read(make([]byte, 16))
		if err == nil {
			t.Fatal("read on idle connection succeeded")
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
			t.Fatalf("idle read returned after %v", d)
		}
	})

	t.Run("traffic extends the deadline", func(t *testing.T) {
		c, s := dial()
		go func() {
			for range 4 {
				time.Sleep(80 * time.Millisecond)
				c.Write([]byte("\r\n"))
			}
		}()
		buf := make([]byte, 16)
		got := 0
		for got < 8 {
			n, err := s.Read(buf)
			if err != nil {
				t.Fatalf("read after %d bytes: %v", got, err)
			}
			got += n
		}
	})

	t.Run("a call holds the connection", func(t *testing.T) {
		c, s := dial()
		release := ln.hold(c.LocalAddr().String())
		readErr := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 16))
			readErr <- err
		}()
		select {
		case err := <-readErr:
			t.Fatalf("held connection read ended: %v", err)
		case <-time.After(400 * time.Millisecond):
		}
		release()
		select {
		case err := <-readErr:
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("read err = %v, want deadline", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("released connection did not idle out")
		}
	})

	t.Run("closed connections are forgotten", func(t *testing.T) {
		_, s := dial()
		s.Close()
		ln.mu.Lock()
		n := len(ln.conns)
		ln.mu.Unlock()
		// Connections of earlier subtests are closed by their cleanups
		// only at the end; this one must be gone already.
		ln.mu.Lock()
		_, ok := ln.conns[s.RemoteAddr().String()]
		ln.mu.Unlock()
		if ok {
			t.Fatalf("closed connection still tracked (%d tracked)", n)
		}
	})
}

func TestCRLFFramer(t *testing.T) {
	reg := "REGISTER sip:x SIP/2.0\r\nl: 0\r\n\r\n"
	inv := "INVITE sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\n\r\nab"
	tests := []struct {
		name  string
		reads []string
		want  string
	}{
		{"CRLF between messages", []string{reg + "\r\n" + inv}, reg + inv},
		{"keep-alive ping then a message", []string{"\r\n\r\n" + reg}, reg},
		{"keep-alive alone is left to sipgo", []string{"\r\n\r\n", reg, "\r\n"}, "\r\n\r\n" + reg + "\r\n"},
		{"body starting with CRLF is kept", []string{inv, "\r\n" + reg}, inv + reg},
		{"reads split anywhere", []string{"INVITE sip:x SIP/2.0\r\nContent-Le", "ngth: 4\r\n\r", "\n\r\na", "b\r\n", "\n" + reg},
			inv + reg},
		{"the last Content-Length frames", []string{"OPTIONS sip:x SIP/2.0\r\nContent-Length: 9\r\nl: 2\r\n\r\nok\r\n" + reg},
			"OPTIONS sip:x SIP/2.0\r\nContent-Length: 9\r\nl: 2\r\n\r\nok" + reg},
		{"no Content-Length: framing off", []string{"OPTIONS sip:x SIP/2.0\r\n\r\n\r\n" + reg},
			"OPTIONS sip:x SIP/2.0\r\n\r\n\r\n" + reg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f crlfFramer
			got := ""
			for _, r := range tt.reads {
				b := []byte(r)
				got += string(b[:f.filter(b)])
			}
			if got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}
