// Package asterisk runs ivrd's flows on calls in an Asterisk PBX through
// ARI, the Asterisk REST Interface, as a Stasis application.
//
// The dialplan sends a call to the application (Stasis(ivrd,${EXTEN})); the
// Driver then adapts the channel to ivr.Call and hands it to the handler,
// usually ivr.Engine.Serve, exactly as the native SIP driver does:
//
//   - Answer, Hangup: POST /channels/{id}/answer, DELETE /channels/{id}.
//   - Play: one ARI playback of all the prompts (media=uri,uri,...). ivrd's
//     own WAV prompts and text-to-speech output are fetched by Asterisk
//     from ivrd's HTTP server (sound:http://.../prompts/{id}.wav) and kept
//     in its media cache; Asterisk sounds play as sound:name.
//   - Playback.Stop: DELETE /playbacks/{id}; Done closes on
//     PlaybackFinished or when the call ends.
//   - DTMF: ChannelDtmfReceived events, Via "ari".
//   - The call's context is cancelled with ivr.ErrCallerHangup on
//     StasisEnd, ChannelHangupRequest or ChannelDestroyed.
//   - Hold (ivr.Holder), for a caller waiting in ivrd's shared queue: a
//     holding bridge of the call's own with music on hold, the queue
//     node's hold prompt played into it as a periodic announcement; the
//     bridge is destroyed when the wait or the call ends.
//   - Record (ivr.Recordable): Asterisk records, ivrd keeps. Two snoop
//     channels on the caller's channel (what the caller says, what the
//     caller hears), each recorded into Asterisk's spool; Pause and Resume
//     mute both recordings, which keeps time; Stop brings both files over
//     ARI into the sink as stereo frames and deletes them from the spool.
//     Snoop channels enter the application with the argument ivrd-snoop
//     and are not calls.
//   - Dial (ivr.Dialer): the agent's phone is originated into the
//     application (the agent's dial string, or PJSIP/<AgentEndpoint>/<sip
//     URI>) with the argument ivrd-agent, so that it is no call; its
//     StasisStart is the answer, its ChannelDestroyed the end, with the
//     hang-up cause telling busy, declined and unanswered phones apart.
//   - Bridge (ivr.Bridger): the caller's channel and the agent's in a
//     mixing bridge until either hangs up; a browser agent's leg (a
//     media.Port) joins through an ExternalMedia channel whose RTP a
//     session of ivrd's media endpoint relays to it (media.Bridge). Only
//     the bridge is destroyed at the end: no channel is hung up by Bridge.
//   - Originate (ivr.Originator): a customer called back is originated
//     into the application through the CallbackEndpoint dial string (the
//     number, digits only, in place of {number}) with the argument
//     ivrd-callback; its StasisStart is the answer, after which the
//     channel is a call like an inbound one, served by the engine's
//     function; its ChannelDestroyed before that says busy, rejected or
//     unanswered. Driver.Dial rings an agent for no call (agent-first
//     callbacks), a leg any call of the driver bridges to.
//
// A queue may be handed back to the dialplan instead of ivrd's own shared
// queue (HandoffDialplan): the call implements ivr.Transferer, sets the
// IVRD_* channel variables and continues to a context that runs Queue().
// The caller's recording consent goes with it in inherited variables
// (IVRD_RECORDING_CONSENT, IVRD_RECORD), so that no leg the dialplan
// creates is recorded after a refusal. When the queue records the agent
// conversation, ivrd records it there itself: the call implements
// ivr.Lingerer, its recording outlives the handler, and the call is gone
// when its recording's snoop channels end (Asterisk sends nothing else of
// a channel that left the application) or its channel's hang-up is seen.
//
// The driver keeps one websocket to Asterisk for events and reconnects with
// exponential backoff when it drops; on reconnection it ends the calls
// whose channels vanished meanwhile, and removes the snoop channels and
// recordings an ivrd that stopped left in Asterisk. Each call costs one
// goroutine, the handler's: events are dispatched to calls by the
// websocket reader.
//
// The data model and event decoding are those of
// github.com/CyCoreSystems/ari/v5. Requests and the websocket are the
// driver's own, so that every request takes a context and has a deadline,
// and so that a refused login or a dropped connection is seen and logged
// rather than retried silently.
package asterisk
