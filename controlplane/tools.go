//go:build tools

// Package controlplane pins the binaries this module builds; `go build` of the
// two main packages below is all `make controlplane` does.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
