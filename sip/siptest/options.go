package siptest

// Option configures a call placed by Invite.
type Option func(*options)

type options struct {
	user    string
	silence bool
	tone    float64 // Hz; 0 sends silence
}

func defaultOptions() options { return options{user: "siptest"} }

// WithUser sets the user part of the From and Contact URIs (default "siptest").
func WithUser(user string) Option { return func(o *options) { o.user = user } }

// WithSilence makes the call send a PCMU silence frame every 20 ms, like a
// phone whose user says nothing, except while a key is being sent. Without
// it the caller sends no RTP but its key presses.
func WithSilence() Option { return func(o *options) { o.silence = true } }

// WithTone makes the call send a tone of freq Hz at -10 dBm0 as PCMU every
// 20 ms (as WithSilence, but audible), except while a key is being sent:
// a caller whose voice the other end can recognise.
func WithTone(freq float64) Option {
	return func(o *options) { o.silence, o.tone = true, freq }
}
