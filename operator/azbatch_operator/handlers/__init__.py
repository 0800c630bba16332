"""kopf handlers: thin glue that loads state, asks `reconcile` what to do, performs it, patches status.

Rule: the outermost layer; nothing in the operator imports handlers/. Decisions belong in
reconcile/, Azure calls in azure/, Kubernetes calls in kube.

Importing this package registers every handler with kopf.
"""

from azbatch_operator.handlers import batch_pool as batch_pool
from azbatch_operator.handlers import indexes as indexes
from azbatch_operator.handlers import lifecycle as lifecycle
from azbatch_operator.handlers import managed_image as managed_image
