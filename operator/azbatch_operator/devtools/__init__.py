"""Developer tooling: a real local control plane (etcd + kube-apiserver) and the local stack.

Rule: drives the operator from outside (processes, files, HTTP), never imports its handlers,
clients or planners; the operator's runtime never imports devtools (checked by `make lint`).

Used by the test fixtures, `make local-up` / `make local-down`, `make demo` and the benchmarks.
Nothing here runs inside the operator in a cluster.
"""
