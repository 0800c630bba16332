"""Thin async clients over azure-mgmt-compute and azure-mgmt-batch, and their error translation.

The same code talks to Azure and to the simulator: azure-identity's DefaultAzureCredential, the
real SDKs, endpoints from configuration. No decisions here; those live in `reconcile`.
"""
