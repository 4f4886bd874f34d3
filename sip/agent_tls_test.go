package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
)

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "phone"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestDialTLS: a sips: phone is dialled over TLS, checked against the
// configured roots; the phone's BYE comes back on the same connection.
func TestDialTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	p := newPhone(t) // its RTP socket and SDP
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	invites := make(chan *sipmsg.Request, 1)
	acks := make(chan *sipmsg.Request, 1)
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		invites <- req
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", p.sdp("sendrecv"))
		res.To().Params.Add("tag", p.tag)
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sips", User: "alice", Host: "127.0.0.1", Port: 5061}})
		tx.Respond(res)
		<-tx.Done()
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { acks <- req })
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeTLS(ln)
	}()
	defer func() {
		ln.Close()
		ua.Close()
		<-served
	}()

	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: "sips:alice@" + ln.Addr().String()}, Contact: testContact(), Timeout: 5 * time.Second}, true,
		func(c *Config) { c.AgentTLS = &tls.Config{RootCAs: pool} })
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	var inv *sipmsg.Request
	select {
	case inv = <-invites:
	case <-time.After(5 * time.Second):
		t.Fatal("no INVITE over TLS")
	}
	if inv.Transport() != "TLS" || inv.Contact().Address.Scheme != "sips" || inv.Contact().Address.Port == 0 {
		t.Errorf("INVITE over %s with Contact %s", inv.Transport(), inv.Contact().Value())
	}
	select {
	case <-acks:
	case <-time.After(5 * time.Second):
		t.Fatal("no ACK over TLS")
	}
	waitAnswered(t, d.leg, 3*time.Second)

	// The phone hangs up, towards ivrd's Contact: sipgo reuses the
	// connection ivrd opened.
	bye := sipmsg.NewRequest(sipmsg.BYE, inv.Contact().Address)
	to := inv.From().AsTo()
	from := inv.To().AsFrom()
	from.Params.Add("tag", p.tag)
	bye.AppendHeader(&from)
	bye.AppendHeader(&to)
	bye.AppendHeader(sipmsg.HeaderClone(inv.CallID()))
	bye.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.BYE})
	bye.SetTransport("TLS")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, bye)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("phone's BYE: %v %v", res, err)
	}
	waitDone(t, d.leg, 3*time.Second)
	if err := d.leg.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	d.end(t, true)
}
