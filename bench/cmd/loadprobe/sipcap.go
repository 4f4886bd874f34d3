package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// bridgedCall is one caller bridged to an agent, as the signalling seen by
// ivrd's SIP address shows it: the four RTP addresses of its two legs.
type bridgedCall struct {
	User        string         // the caller's From user, which ivrd repeats in the agent's INVITE
	CallerMedia netip.AddrPort // where the caller sends from and receives (its SDP)
	IvrdCaller  netip.AddrPort // ivrd's RTP port for the caller (its 200 OK)
	IvrdAgent   netip.AddrPort // ivrd's RTP port for the agent (its INVITE)
	AgentMedia  netip.AddrPort // the agent's phone (its 200 OK)
}

// complete reports whether both legs were answered with SDP.
func (c *bridgedCall) complete() bool {
	return c.CallerMedia.IsValid() && c.IvrdCaller.IsValid() && c.IvrdAgent.IsValid() && c.AgentMedia.IsValid()
}

// signalling counts what the SIP capture holds.
type signalling struct {
	CallerInvites int `json:"caller_invites"` // INVITEs ivrd received (distinct Call-IDs)
	CallerAnswers int `json:"caller_answers"` // answered 200 with SDP
	AgentInvites  int `json:"agent_invites"`  // INVITEs ivrd sent to agents' phones
	AgentAnswers  int `json:"agent_answers"`  // answered 200 with SDP
	Bridged       int `json:"bridged"`        // calls with both legs answered
	Unparsed      int `json:"unparsed"`       // datagrams that were not SIP
}

// readSignalling pairs the legs of each bridged call from a capture of
// ivrd's SIP traffic: the caller's INVITE to ivrd and ivrd's 200 give the
// caller leg, ivrd's INVITE to the agent's phone (From: the caller's user)
// and the phone's 200 the agent leg. An agent leg answered later for the
// same caller (a re-offer) replaces an earlier one.
func readSignalling(path string, ivrd netip.AddrPort) (map[string]*bridgedCall, signalling, error) {
	var sum signalling
	f, err := os.Open(path)
	if err != nil {
		return nil, sum, fmt.Errorf("read signalling: %w", err)
	}
	defer f.Close()
	r, err := newPcapReader(f)
	if err != nil {
		return nil, sum, fmt.Errorf("read signalling %s: %w", path, err)
	}
	calls := map[string]*bridgedCall{}
	get := func(user string) *bridgedCall {
		c := calls[user]
		if c == nil {
			c = &bridgedCall{User: user}
			calls[user] = c
		}
		return c
	}
	callerLegs := map[string]string{}          // Call-ID -> user
	agentLegs := map[string]string{}           // Call-ID -> user
	agentOffers := map[string]netip.AddrPort{} // Call-ID -> ivrd's port in the INVITE
	answered := map[string]bool{}              // Call-IDs whose 200 was counted
	for {
		pk, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, sum, fmt.Errorf("read signalling %s: %w", path, err)
		}
		toIvrd, fromIvrd := pk.Dst == ivrd, pk.Src == ivrd
		if !toIvrd && !fromIvrd {
			continue
		}
		m, ok := parseSIP(pk.Payload)
		if !ok {
			sum.Unparsed++
			continue
		}
		switch {
		case m.Method == "INVITE" && toIvrd && m.FromUser != "":
			if _, seen := callerLegs[m.CallID]; !seen {
				sum.CallerInvites++
				callerLegs[m.CallID] = m.FromUser
			}
			if m.Media.IsValid() {
				get(m.FromUser).CallerMedia = m.Media
			}
		case m.Method == "INVITE" && fromIvrd && m.FromUser != "":
			if _, seen := agentLegs[m.CallID]; !seen {
				sum.AgentInvites++
				agentLegs[m.CallID] = m.FromUser
			}
			if m.Media.IsValid() {
				agentOffers[m.CallID] = m.Media
			}
		case m.Status == 200 && m.CSeqMethod == "INVITE" && fromIvrd && m.Media.IsValid():
			if user, ok := callerLegs[m.CallID]; ok {
				get(user).IvrdCaller = m.Media
				if !answered[m.CallID] {
					answered[m.CallID] = true
					sum.CallerAnswers++
				}
			}
		case m.Status == 200 && m.CSeqMethod == "INVITE" && toIvrd && m.Media.IsValid():
			if user, ok := agentLegs[m.CallID]; ok && agentOffers[m.CallID].IsValid() {
				c := get(user)
				c.IvrdAgent, c.AgentMedia = agentOffers[m.CallID], m.Media
				if !answered[m.CallID] {
					answered[m.CallID] = true
					sum.AgentAnswers++
				}
			}
		}
	}
	for user, c := range calls {
		if !c.complete() {
			delete(calls, user)
		}
	}
	sum.Bridged = len(calls)
	return calls, sum, nil
}

// sipMessage is what the bench needs of a SIP message.
type sipMessage struct {
	Method     string // requests
	Status     int    // responses
	CallID     string
	CSeqMethod string
	FromUser   string
	Media      netip.AddrPort // the SDP's audio address: c= and m=audio
}

// parseSIP reads the start line, Call-ID, CSeq and From of a SIP message
// (long or compact header names) and the audio address of its SDP body.
func parseSIP(b []byte) (sipMessage, bool) {
	var m sipMessage
	head, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	if len(lines) == 0 {
		return m, false
	}
	first := strings.Fields(lines[0])
	if len(first) < 3 {
		return m, false
	}
	switch {
	case first[0] == "SIP/2.0":
		code, err := strconv.Atoi(first[1])
		if err != nil || code < 100 || code > 699 {
			return m, false
		}
		m.Status = code
	case first[2] == "SIP/2.0":
		m.Method = first[0]
	default:
		return m, false
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			m.CallID = value
		case "cseq":
			if f := strings.Fields(value); len(f) == 2 {
				m.CSeqMethod = f[1]
			}
		case "from", "f":
			m.FromUser = uriUser(value)
		}
	}
	if m.CallID == "" {
		return m, false
	}
	m.Media = sdpAudioAddr(body)
	return m, true
}

// uriUser returns the user part of a From header's SIP URI.
func uriUser(h string) string {
	if i := strings.IndexByte(h, '<'); i >= 0 {
		h = h[i+1:]
		if j := strings.IndexByte(h, '>'); j >= 0 {
			h = h[:j]
		}
	} else if i := strings.IndexByte(h, ';'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSpace(h)
	lower := strings.ToLower(h)
	switch {
	case strings.HasPrefix(lower, "sip:"):
		h = h[len("sip:"):]
	case strings.HasPrefix(lower, "sips:"):
		h = h[len("sips:"):]
	default:
		return ""
	}
	user, _, ok := strings.Cut(h, "@")
	if !ok {
		return ""
	}
	return user
}

// sdpAudioAddr returns the connection address and port of the first audio
// stream of an SDP body: the media-level c= line if any, else the session's.
func sdpAudioAddr(body []byte) netip.AddrPort {
	var session, media netip.Addr
	port := 0
	inMedia, inAudio := false, false // in a media section; in the first audio one
	for _, l := range strings.Split(string(body), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "m="):
			inMedia, inAudio = true, false
			if port != 0 {
				continue
			}
			f := strings.Fields(l[2:])
			if len(f) >= 2 && f[0] == "audio" {
				if p, err := strconv.Atoi(f[1]); err == nil && p > 0 && p < 65536 {
					port, inAudio = p, true
				}
			}
		case strings.HasPrefix(l, "c="):
			f := strings.Fields(l[2:])
			if len(f) < 3 {
				continue
			}
			a, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
			if err != nil {
				continue
			}
			switch {
			case inAudio:
				media = a
			case !inMedia:
				session = a
			}
		}
	}
	if port == 0 {
		return netip.AddrPort{}
	}
	if media.IsValid() {
		return netip.AddrPortFrom(media, uint16(port))
	}
	if session.IsValid() {
		return netip.AddrPortFrom(session, uint16(port))
	}
	return netip.AddrPort{}
}
