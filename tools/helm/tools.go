//go:build tools

// Package tools pins helm v3, built into bin/helm by `make bin/helm`.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
