package asterisk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// rest sends ARI requests. Parameters go in the query string, which every
// ARI resource accepts.
type rest struct {
	base     string // ARI root, no trailing slash
	user     string
	password string
	hc       *http.Client
	timeout  time.Duration
}

// StatusError is an ARI request answered with a non-2xx status. It matches
// ErrUnauthorized, ErrNotFound and ErrConflict with errors.Is.
type StatusError struct {
	Method  string
	Path    string
	Code    int
	Message string // ARI's {"message": ...}, when it sent one
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("ari %s %s: %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is maps the status to the package's sentinel errors.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Code == http.StatusUnauthorized
	case ErrNotFound:
		return e.Code == http.StatusNotFound
	case ErrConflict:
		return e.Code == http.StatusConflict
	}
	return false
}

// do sends one request, bounded by the request timeout, and decodes a JSON
// answer into out when out is not nil.
func (r *rest) do(ctx context.Context, method, path string, query url.Values, out any) error {
	return r.send(ctx, method, path, query, nil, out)
}

// send is do with a JSON body when body is not nil: the few parameters ARI
// takes only in the body, such as an originate's channel variables.
func (r *rest) send(ctx context.Context, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	u := r.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ari %s %s: encode body: %w", method, path, err)
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, payload)
	if err != nil {
		return fmt.Errorf("ari %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(r.user, r.password)
	req.Header.Set("Accept", "application/json")
	res, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ari %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("ari %s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		se := &StatusError{Method: method, Path: path, Code: res.StatusCode}
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(answer, &m) == nil {
			se.Message = m.Message
		}
		return se
	}
	if out != nil && len(answer) > 0 {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("ari %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func chanPath(id string, rest ...string) string {
	p := "/channels/" + url.PathEscape(id)
	if len(rest) > 0 {
		p += "/" + strings.Join(rest, "/")
	}
	return p
}

func (r *rest) answer(ctx context.Context, channel string) error {
	return r.do(ctx, http.MethodPost, chanPath(channel, "answer"), nil, nil)
}

func (r *rest) hangup(ctx context.Context, channel, reason string) error {
	return r.do(ctx, http.MethodDelete, chanPath(channel), url.Values{"reason": {reason}}, nil)
}

// play starts one playback of media (ARI plays a list in order and sends
// one PlaybackFinished at the end).
func (r *rest) play(ctx context.Context, channel, playback string, media []string) error {
	q := url.Values{"media": {strings.Join(media, ",")}}
	return r.do(ctx, http.MethodPost, chanPath(channel, "play", url.PathEscape(playback)), q, nil)
}

func (r *rest) stopPlayback(ctx context.Context, playback string) error {
	return r.do(ctx, http.MethodDelete, "/playbacks/"+url.PathEscape(playback), nil, nil)
}

func (r *rest) playbackExists(ctx context.Context, playback string) (bool, error) {
	err := r.do(ctx, http.MethodGet, "/playbacks/"+url.PathEscape(playback), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (r *rest) channelExists(ctx context.Context, channel string) (bool, error) {
	err := r.do(ctx, http.MethodGet, chanPath(channel), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (r *rest) setVar(ctx context.Context, channel, name, value string) error {
	return r.do(ctx, http.MethodPost, chanPath(channel, "variable"), url.Values{"variable": {name}, "value": {value}}, nil)
}

// getVar reads a channel variable or dialplan function.
func (r *rest) getVar(ctx context.Context, channel, name string) (string, error) {
	var v struct {
		Value string `json:"value"`
	}
	err := r.do(ctx, http.MethodGet, chanPath(channel, "variable"), url.Values{"variable": {name}}, &v)
	return v.Value, err
}

func (r *rest) continueIn(ctx context.Context, channel, dialContext, exten string, priority int) error {
	q := url.Values{"context": {dialContext}, "extension": {exten}, "priority": {fmt.Sprint(priority)}}
	return r.do(ctx, http.MethodPost, chanPath(channel, "continue"), q, nil)
}

// ping checks the credentials (and that ARI answers at all).
func (r *rest) ping(ctx context.Context) error {
	return r.do(ctx, http.MethodGet, "/asterisk/ping", nil, nil)
}

// appRegistered reports whether the Stasis application exists.
func (r *rest) appRegistered(ctx context.Context, app string) (bool, error) {
	err := r.do(ctx, http.MethodGet, "/applications/"+url.PathEscape(app), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func bridgePath(id string, rest ...string) string {
	p := "/bridges/" + url.PathEscape(id)
	if len(rest) > 0 {
		p += "/" + strings.Join(rest, "/")
	}
	return p
}

// bridge is the part of an ARI bridge the driver reads.
type bridge struct {
	ID       string   `json:"id"`
	Type     string   `json:"bridge_type"`
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
}

func (r *rest) createBridge(ctx context.Context, id, typ, name string) error {
	q := url.Values{"type": {typ}, "name": {name}}
	return r.do(ctx, http.MethodPost, bridgePath(id), q, nil)
}

func (r *rest) addChannel(ctx context.Context, bridge, channel, role string) error {
	q := url.Values{"channel": {channel}, "role": {role}}
	return r.do(ctx, http.MethodPost, bridgePath(bridge, "addChannel"), q, nil)
}

func (r *rest) removeChannel(ctx context.Context, bridge, channel string) error {
	return r.do(ctx, http.MethodPost, bridgePath(bridge, "removeChannel"), url.Values{"channel": {channel}}, nil)
}

// startMOH plays a music-on-hold class into the bridge.
func (r *rest) startMOH(ctx context.Context, bridge, class string) error {
	return r.do(ctx, http.MethodPost, bridgePath(bridge, "moh"), url.Values{"mohClass": {class}}, nil)
}

func (r *rest) destroyBridge(ctx context.Context, bridge string) error {
	return r.do(ctx, http.MethodDelete, bridgePath(bridge), nil, nil)
}

func (r *rest) bridges(ctx context.Context) ([]bridge, error) {
	var out []bridge
	err := r.do(ctx, http.MethodGet, "/bridges", nil, &out)
	return out, err
}

// playBridge plays media to every participant of a holding bridge.
func (r *rest) playBridge(ctx context.Context, bridge, playback string, media []string) error {
	q := url.Values{"media": {strings.Join(media, ",")}}
	return r.do(ctx, http.MethodPost, bridgePath(bridge, "play", url.PathEscape(playback)), q, nil)
}

func (r *rest) stopMOH(ctx context.Context, bridge string) error {
	return r.do(ctx, http.MethodDelete, bridgePath(bridge, "moh"), nil, nil)
}
