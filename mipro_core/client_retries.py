"""For adapter authors: say when a model's own client retries failed requests.

A provider SDK that retries under mipro (``ChatOpenAI``'s openai client twice, LlamaIndex's
``OpenAILike`` three times by default) makes requests mipro cannot see: they are not counted in
``lm_calls``, can exceed ``max_lm_calls`` and multiply mipro's own retries. An adapter calls
:func:`warn_if_client_retries` on each model object it wraps or finds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["warn_if_client_retries"]

_warned: set[int] = set()
_lock = threading.Lock()


def warn_if_client_retries(model: Any, logger: logging.Logger, *, client: Any = None) -> None:
    """Log once per ``model`` object (on ``logger``) when its client retries by itself.

    Args:
        model: the model object the user built (named in the warning).
        logger: the adapter's logger.
        client: the object holding ``max_retries`` when it is not ``model`` itself (e.g. the
            model inside a ``with_retry``/``bind`` wrapper).

    ``max_retries`` above 0, or ``None`` (the provider SDK's default), is warned about; 0, a
    missing attribute or anything that is not an int is not.
    """
    retries = getattr(model if client is None else client, "max_retries", 0)
    if isinstance(retries, bool) or not (retries is None or isinstance(retries, int)):
        return
    if retries == 0:
        return
    with _lock:
        if id(model) in _warned:
            return
        _warned.add(id(model))
    shown = "None: the SDK's default" if retries is None else str(retries)
    logger.warning(
        "%s retries failed requests itself (max_retries=%s): mipro cannot see those retries, "
        "so they are not counted in lm_calls, can exceed max_lm_calls and multiply mipro's own "
        "(SearchConfig.max_retries); build it with max_retries=0 and let mipro retry",
        type(model).__name__,
        shown,
    )
