"""kopf handlers: thin glue that loads state, asks `reconcile` what to do, performs it, patches status.

Importing this package registers every handler with kopf.
"""

from azbatch_operator.handlers import batch_pool as batch_pool
from azbatch_operator.handlers import indexes as indexes
from azbatch_operator.handlers import lifecycle as lifecycle
from azbatch_operator.handlers import managed_image as managed_image
