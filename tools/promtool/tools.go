//go:build tools

// Package tools pins promtool, built into bin/promtool by `make bin/promtool`.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
