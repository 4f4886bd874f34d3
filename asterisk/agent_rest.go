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
