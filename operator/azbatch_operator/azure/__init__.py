"""Thin async clients over azure-mgmt-compute and azure-mgmt-batch, and their error translation.

Rule: may import reconcile/, api/, settings and metrics, never handlers/, kube or leader; no
decisions here (those live in reconcile/), only calls and the translation of their errors.

The same code talks to Azure and to the simulator: azure-identity's DefaultAzureCredential, the
real SDKs, endpoints from configuration.
"""
