//go:build !linux

package siptest

import (
	"net"
	"time"
)

// enableTimestamps reports false: receive timestamps come from time.Now.
func enableTimestamps(*net.UDPConn) bool { return false }

func rxTimestamp([]byte) (time.Time, bool) { return time.Time{}, false }
