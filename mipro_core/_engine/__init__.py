"""The MIPRO run, one stage per module (read top-down; docs/design.md has the map):

``settings`` (what the run was asked, its random streams) → ``context`` (what every stage
reads) → ``space`` (the search space) → ``ledger`` (trials and what was learnt) → ``scoring``
(one evaluation per trial) → ``stop`` (why a run stops) → ``proposals`` and ``prepare``
(everything before the search) → ``rounds`` (proposal rounds during it) → ``loop`` (the
search) → ``engine`` (the run as a list of those stages).
"""

from .engine import Engine
from .settings import EngineSettings
from .space import SearchSpace
from .stop import StopReason

__all__ = ["Engine", "EngineSettings", "SearchSpace", "StopReason"]
