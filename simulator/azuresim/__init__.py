"""azuresim: an HTTPS simulator of Azure Resource Manager and Entra ID.

Rule: stands alone; never imports azbatch_operator (checked by `make lint`), so what it does is
what Azure documents, not what the operator happens to expect.

It speaks the ARM wire protocol for the subset azbatch-operator uses (Entra ID token endpoint,
Microsoft.Compute disks/VMs/snapshots/images/galleries, Microsoft.Batch accounts/pools), with
time compression, ARM-style throttling, RBAC and fault injection. Real Azure SDKs talk to it by
changing only their endpoints and CA bundle. See docs/simulator.md.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
