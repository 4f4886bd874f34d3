package asterisk

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// originate creates channel id calling endpoint (a dial string). Once
// answered, the channel enters application app with appArgs as its
// argument; the application is told of the channel's hang-up before that.
// timeout is Asterisk's own bound on the ringing, in seconds; originator
// is the caller's channel, whose codecs and linked id the new one takes.
func (r *rest) originate(ctx context.Context, id, endpoint, app, appArgs, callerID, originator string, timeout int) error {
	q := url.Values{
		"endpoint": {endpoint},
		"app":      {app},
		"appArgs":  {appArgs},
		"timeout":  {strconv.Itoa(timeout)},
	}
	if callerID != "" {
		q.Set("callerId", callerID)
	}
	if originator != "" {
		q.Set("originator", originator)
	}
	return r.do(ctx, http.MethodPost, chanPath(id), q, nil)
}

// originateCallback creates channel id calling a customer at endpoint (a
// dial string), showing callerID, with vars set on the channel before it
// dials (ARI takes them only in the body). Once answered, the channel
// enters application app with appArgs as its argument; the application is
// told of the channel's hang-up before that. timeout is Asterisk's own
// bound on the ringing, in seconds.
func (r *rest) originateCallback(ctx context.Context, id, endpoint, app, appArgs, callerID string, timeout int, vars map[string]string) error {
	q := url.Values{
		"endpoint": {endpoint},
		"app":      {app},
		"appArgs":  {appArgs},
		"timeout":  {strconv.Itoa(timeout)},
	}
	if callerID != "" {
		q.Set("callerId", callerID)
	}
	var body any
	if len(vars) > 0 {
		body = map[string]any{"variables": vars}
	}
	return r.send(ctx, http.MethodPost, chanPath(id), q, body, nil)
}

// externalMedia creates channel id, an ExternalMedia channel in
// application app exchanging RTP in format with host (address:port), and
// returns the address Asterisk receives that RTP on.
func (r *rest) externalMedia(ctx context.Context, id, app, host, format string) (addr, port string, err error) {
	q := url.Values{
		"channelId":     {id},
		"app":           {app},
		"external_host": {host},
		"format":        {format},
		"encapsulation": {"rtp"},
		"transport":     {"udp"},
		"direction":     {"both"},
	}
	var ch struct {
		Vars map[string]string `json:"channelvars"`
	}
	if err := r.do(ctx, http.MethodPost, "/channels/externalMedia", q, &ch); err != nil {
		return "", "", err
	}
	addr, port = ch.Vars["UNICASTRTP_LOCAL_ADDRESS"], ch.Vars["UNICASTRTP_LOCAL_PORT"]
	if addr == "" {
		if addr, err = r.getVar(ctx, id, "UNICASTRTP_LOCAL_ADDRESS"); err != nil {
			return "", "", err
		}
	}
	if port == "" {
		if port, err = r.getVar(ctx, id, "UNICASTRTP_LOCAL_PORT"); err != nil {
			return "", "", err
		}
	}
	return addr, port, nil
}
