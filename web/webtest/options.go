package webtest

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// DefaultTimeout bounds each action of a Page: a wait, a click, an
// evaluation.
const DefaultTimeout = 15 * time.Second

// config is what the options set.
type config struct {
	path          string
	fakeAudio     string
	width, height int
	timeout       time.Duration
	flags         map[string]any
}

// Option configures Start.
type Option func(*config) error

// WithPath runs the Chromium at path instead of DefaultPath.
func WithPath(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("empty chromium path")
		}
		c.path = path
		return nil
	}
}

// WithFakeAudio makes the fake microphone play a WAV file in a loop
// instead of Chromium's beep, so that the far end can check what it hears
// (a tone, a spoken prompt).
func WithFakeAudio(wav string) Option {
	return func(c *config) error {
		if _, err := os.Stat(wav); err != nil {
			return fmt.Errorf("fake audio: %w", err)
		}
		c.fakeAudio = wav
		return nil
	}
}

// WithWindowSize sets the size of the window, and of screenshots.
func WithWindowSize(width, height int) Option {
	return func(c *config) error {
		if width <= 0 || height <= 0 {
			return fmt.Errorf("window size %dx%d", width, height)
		}
		c.width, c.height = width, height
		return nil
	}
}

// WithTimeout sets the time each action may take (DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithFlag adds or replaces a command-line flag of Chromium: true for a
// bare flag, false to remove one, a string for a value.
func WithFlag(name string, value any) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("empty flag name")
		}
		c.flags[name] = value
		return nil
	}
}
