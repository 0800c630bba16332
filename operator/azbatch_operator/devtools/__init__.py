"""Developer tooling: a real local control plane (etcd + kube-apiserver) and the local stack.

Used by the test fixtures, `make local-up` / `make local-down`, `make demo` and the benchmarks.
Nothing here runs inside the operator in a cluster.
"""
