"""Run program runs on a Ray cluster (``pip install 'mipro-core[ray]'``).

::

    from mipro_core.integrations.ray import RayBackend

    mipro_core.optimize(
        chain, trainset, metric, backend=RayBackend(factory="app:build_chain")
    )

Workers rebuild the program from the importable factory and receive each candidate state as
JSON; no program object is sent. The search, the journal and every budget stay in this
process. Importing this module does not import Ray; connecting does. See docs/scaling.md.
"""

from ._ray import RayBackend, RemoteRunError

__all__ = ["RayBackend", "RemoteRunError"]
