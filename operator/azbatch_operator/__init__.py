"""azbatch-operator: Azure Batch custom-image pools declared as Kubernetes resources.

`kopf run -m azbatch_operator` imports this package; importing it registers the handlers.
Layers, outermost first (checked by `make lint`, the import contract in pyproject.toml):
handlers -> leader -> kube -> azure -> metrics -> reconcile -> api | settings.
A module imports only from layers below its own; devtools/ is apart from all of them.
"""

from azbatch_operator import handlers as handlers
