//go:build race

package asterisktest

// raceEnabled reports a -race build; see connectARI.
const raceEnabled = true
