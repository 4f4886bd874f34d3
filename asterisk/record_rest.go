package asterisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// snoop creates a snoop channel with id snoopID spying on channel in
// direction spy ("in": what the channel sends, "out": what it receives).
// The snoop channel enters application app with appArgs as its argument.
func (r *rest) snoop(ctx context.Context, channel, snoopID, spy, app, appArgs string) error {
	q := url.Values{"spy": {spy}, "whisper": {"none"}, "app": {app}, "appArgs": {appArgs}, "snoopId": {snoopID}}
	return r.do(ctx, http.MethodPost, chanPath(channel, "snoop"), q, nil)
}

// recordChannel records what channel reads into Asterisk's recordings
// spool as name.wav (8 kHz, 16-bit mono PCM). It never overwrites a file,
// ignores keys and silence, and has no time limit: the driver stops it.
func (r *rest) recordChannel(ctx context.Context, channel, name string) error {
	q := url.Values{
		"name":               {name},
		"format":             {"wav"},
		"ifExists":           {"fail"},
		"terminateOn":        {"none"},
		"maxSilenceSeconds":  {"0"},
		"maxDurationSeconds": {"0"},
		"beep":               {"false"},
	}
	return r.do(ctx, http.MethodPost, chanPath(channel, "record"), q, nil)
}

func livePath(name string, rest string) string {
	p := "/recordings/live/" + url.PathEscape(name)
	if rest != "" {
		p += "/" + rest
	}
	return p
}

func storedPath(name string, rest string) string {
	p := "/recordings/stored/" + url.PathEscape(name)
	if rest != "" {
		p += "/" + rest
	}
	return p
}

// muteRecording makes a live recording write silence (on) or the audio
// again (off). Unlike pause, mute keeps time.
func (r *rest) muteRecording(ctx context.Context, name string, on bool) error {
	method := http.MethodDelete
	if on {
		method = http.MethodPost
	}
	return r.do(ctx, method, livePath(name, "mute"), nil, nil)
}

func (r *rest) stopRecording(ctx context.Context, name string) error {
	return r.do(ctx, http.MethodPost, livePath(name, "stop"), nil, nil)
}

// recordingLive reports whether Asterisk still writes the recording.
func (r *rest) recordingLive(ctx context.Context, name string) (bool, error) {
	err := r.do(ctx, http.MethodGet, livePath(name, ""), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (r *rest) deleteStored(ctx context.Context, name string) error {
	return r.do(ctx, http.MethodDelete, storedPath(name, ""), nil, nil)
}

// storedRecordings lists the names of the recordings in Asterisk's spool.
func (r *rest) storedRecordings(ctx context.Context) ([]string, error) {
	var list []struct {
		Name string `json:"name"`
	}
	if err := r.do(ctx, http.MethodGet, "/recordings/stored", nil, &list); err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return names, nil
}

// channelIDs lists the ids of the channels Asterisk has.
func (r *rest) channelIDs(ctx context.Context) ([]string, error) {
	var list []struct {
		ID string `json:"id"`
	}
	if err := r.do(ctx, http.MethodGet, "/channels", nil, &list); err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// storedFile opens the file of a stored recording. Unlike other requests it
// has no deadline of its own, since a long recording takes a while to
// come: ctx bounds it. The caller closes the body.
func (r *rest) storedFile(ctx context.Context, name string) (io.ReadCloser, error) {
	path := storedPath(name, "file")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("ari GET %s: %w", path, err)
	}
	req.SetBasicAuth(r.user, r.password)
	res, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ari GET %s: %w", path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		se := &StatusError{Method: http.MethodGet, Path: path, Code: res.StatusCode}
		var m struct {
			Message string `json:"message"`
		}
		if b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10)); err == nil && json.Unmarshal(b, &m) == nil {
			se.Message = m.Message
		}
		return nil, se
	}
	return res.Body, nil
}
