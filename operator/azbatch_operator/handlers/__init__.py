"""kopf handlers: thin glue that loads state, asks `reconcile` what to do, performs it, patches status."""

from azbatch_operator.handlers import lifecycle as lifecycle
