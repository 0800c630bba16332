"""Pure decisions: no I/O, no clock reads — time is passed in.

Rule: imports only api/, settings and itself; never kopf, aiohttp, azure, kubernetes or
prometheus_client (checked by `make lint`).

Each planner takes the spec, the current status and what the shell observed in Azure, and returns a
``plan.Plan``: one next action (enough to make exactly one Azure call), the status patch and the
kstatus condition triad to write, and when to come back.  The shell (handlers/) performs the action,
merges the conditions with ``conditions.merge`` and patches status (through ``api.status``).
"""
