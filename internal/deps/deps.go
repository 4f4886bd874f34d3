// Package deps pins the project's module dependencies while packages are being written.
package deps

import (
	_ "github.com/emiago/sipgo"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/pion/rtp"
	_ "github.com/pion/sdp/v3"
	_ "github.com/spf13/viper"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/ipv4"
	_ "gopkg.in/yaml.v3"
)
