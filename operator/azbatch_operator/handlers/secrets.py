"""Secret values for a BatchPool's ``secretRef``s, read from its namespace at every pass.

Reading at every pass (one GET per referenced Secret) is what makes a rotated Secret reach Azure
on the next pass without a watch on every Secret in the cluster (RBAC: only ``get`` on secrets).
Values go into the pool body and nowhere else; errors name the Secret and key, never a value.
"""

from __future__ import annotations

import base64
import binascii

from azbatch_operator.kube import KubeApi
from azbatch_operator.reconcile import pool_config


async def read(
    kube: KubeApi, namespace: str, refs: tuple[pool_config.SecretKey, ...]
) -> pool_config.SecretValues:
    """The values of ``refs`` (raises MissingSecret for the first Secret or key that is absent)."""
    values: dict[pool_config.SecretKey, str] = {}
    versions: dict[str, str] = {}
    documents: dict[str, dict[str, str]] = {}
    for name, key in refs:
        if name not in documents:
            secret = await kube.read_secret(namespace, name)
            if secret is None:
                raise pool_config.MissingSecret(name)
            documents[name] = dict(secret.get("data") or {})
            versions[name] = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        data = documents[name]
        if key not in data:
            raise pool_config.MissingSecret(name, key)
        try:
            values[(name, key)] = base64.b64decode(data[key], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise pool_config.InvalidSecret(f"key {key!r} of Secret {name!r} is not UTF-8 text") from None
    return pool_config.SecretValues(values, versions)
