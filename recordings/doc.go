// Package recordings keeps call recordings the way the law asks (see
// README.md): the caller's consent, stored durably before anything is
// recorded; one metadata row per recording with its sha256 and expiry; a
// purge that deletes recordings once their retention (at most six months)
// ends, unless a legal hold keeps them; crash recovery that completes or
// flags what a crash left, never silently keeping it; and an audit of
// every access.
//
// Service implements ivr.Recordings for the engine and the drivers, and
// serves the API and the ivrd purge command. Files are written by
// recordings/audiofile: stereo WAV, optionally AES-256-GCM encrypted, under
// <dir>/YYYY/MM/DD/<id>.wav (.wav.enc when encrypted), named by a random id
// and never exposed by path.
package recordings
