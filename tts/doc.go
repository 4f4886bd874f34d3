// Package tts renders prompt text to telephone-ready audio with espeak-ng.
//
// Rendering happens when flows load, never during a call: each text is
// synthesized once, resampled to 8 kHz mono PCM16 and kept in an on-disk
// cache keyed by a hash of the engine, voice, speed and text, so a reload or
// a restart renders only what changed.
package tts
