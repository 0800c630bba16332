"""azbatch-operator: Azure Batch custom-image pools declared as Kubernetes resources.

`kopf run -m azbatch_operator` imports this package; importing it registers the handlers.
Layers, outermost first: handlers -> services -> azure -> reconcile / api (pure).
"""

from azbatch_operator import handlers as handlers
