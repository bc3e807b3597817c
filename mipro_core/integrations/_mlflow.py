"""The MLflow tracker: one MLflow run per mipro run, driven by the observer hooks.

Everything goes through an explicit :class:`mlflow.MlflowClient` and MLflow run ids, never the
fluent ``mlflow.start_run`` stack, so the tracker leaves the caller's MLflow state alone and
several optimizations may run at once (in threads) with one tracker.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..plugins import RunInfo, hookimpl

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from .._result import OptimizationResult, Trial

logger = logging.getLogger("mipro_core.integrations.mlflow")

TAG_RUN_ID = "mipro.run_id"
"""The MLflow tag holding mipro's run id (a resumed run finds its MLflow run by it)."""
ARTIFACT_DIR = "mipro"
"""The MLflow artifact directory the tracker writes ``artifact.json`` and ``summary.txt`` to."""
_BATCH = 100  # MLflow accepts at most 100 params / 1000 metrics per log_batch call
_MAX_PARAM = 6000


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise ImportError(
            "MLflowTracker needs MLflow: pip install 'mipro-core[mlflow]' "
            "(or mlflow / mlflow-skinny)",
            name="mlflow",
        ) from exc
    return mlflow


@attrs.define
class _Tracked:
    """The MLflow side of one mipro run."""

    client: MlflowClient
    mlflow_run_id: str
    reattached: bool
    """A resume that continues the interrupted process's MLflow run (its trials are logged)."""
    logged: set[int] = attrs.Factory(set)


class MLflowTracker:
    """Logs each optimization run as an MLflow run: parameters, per-trial metrics, the artifact.

    * Start: a new MLflow run in ``experiment_name`` (default: MLflow's own configuration,
      ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID`` / ``mlflow.set_experiment``, else
      the Default experiment) on ``tracking_uri`` (default: ``MLFLOW_TRACKING_URI`` /
      ``mlflow.set_tracking_uri``). Inside an active ``mlflow.start_run()`` block (and without an
      explicit ``tracking_uri``) it is a nested child of that run. Every setting of
      :class:`~mipro_core.plugins.RunInfo` is logged as a parameter (``budget.max_trials``,
      ``search.minibatch_size``, ...); tags ``mipro.run_id``, ``mipro.strategy`` and
      ``mipro.version``.
    * Each trial, at ``step`` = trial number (0 is the baseline): ``score``, ``best_score``,
      ``lm_calls`` (run total so far), ``elapsed_seconds``, ``errors``, and ``minibatch_score``
      or ``full_score`` by the trial's kind.
    * End: ``baseline_score``, ``final_best_score``, ``improvement``, ``total_lm_calls``,
      ``task_lm_calls``, ``proposer_lm_calls``, ``prompt_tokens``, ``completion_tokens``,
      ``seconds``, ``num_trials`` and ``cost`` (with a price table); tag
      ``mipro.stopped_reason``; artifacts ``mipro/artifact.json`` (loadable with
      :func:`mipro_core.read_artifact` / :func:`mipro_core.apply`), ``mipro/summary.txt`` and,
      with ``log_journal=True``, the journal. The MLflow run ends ``FINISHED``.
    * Failure: tag ``mipro.error``; the run ends ``FAILED`` (``KILLED`` on Ctrl-C).
    * Resume (:func:`mipro_core.resume`): the MLflow run tagged with the same ``mipro.run_id`` in
      the experiment is reopened and continued; if there is none, a new run gets every trial
      (the replayed ones are logged at the end).

    Creating a tracker imports MLflow (``ImportError`` with the install command if missing).
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        log_artifact: bool = True,
        log_journal: bool = False,
        continue_resumed_runs: bool = True,
    ) -> None:
        self._mlflow = _import_mlflow()
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.log_artifact = log_artifact
        self.log_journal = log_journal
        self.continue_resumed_runs = continue_resumed_runs
        self.last_run_id: str | None = None
        """The MLflow run id of the most recently started mipro run (kept after it ends)."""
        self._runs: dict[str, _Tracked] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.tracking_uri or "MLflow's default tracking URI"
        return f"MLflowTracker({where}, experiment={self.experiment_name or 'default'})"

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def mipro_run_started(self, run: RunInfo) -> None:
        client = self._mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        parent = self._mlflow.active_run() if self.tracking_uri is None else None
        if parent is not None:
            experiment_id = str(parent.info.experiment_id)
        else:
            experiment_id = self._experiment_id(client)
        found = self._previous_run(client, experiment_id, run) if run.resumed else None
        if found is not None:
            client.update_run(found, status="RUNNING")
            client.set_tag(found, "mipro.resumed", "true")
            tracked = _Tracked(client, found, reattached=True)
        else:
            tags = {
                **self.tags,
                TAG_RUN_ID: run.run_id,
                "mipro.strategy": run.strategy,
                "mipro.version": run.library_version,
            }
            if run.resumed:
                tags["mipro.resumed"] = "true"
            if parent is not None:
                tags["mipro.parent"] = parent.info.run_id
                tags["mlflow.parentRunId"] = parent.info.run_id
            created = client.create_run(
                experiment_id,
                tags=tags,
                run_name=self.run_name or f"mipro-{run.strategy}-seed{run.seed}",
            )
            tracked = _Tracked(client, created.info.run_id, reattached=False)
            self._log_params(tracked, run.params())
        with self._lock:
            self._runs[run.run_id] = tracked
            self.last_run_id = tracked.mlflow_run_id
        logger.info("MLflow run %s started for mipro run %s", tracked.mlflow_run_id, run.run_id)

    @hookimpl
    def mipro_trial_completed(self, trial: Trial, run: RunInfo) -> None:
        with self._lock:
            tracked = self._runs.get(run.run_id)
        if tracked is None:  # the run was not started here (e.g. starting it failed)
            return
        self._log_trials(tracked, [trial])

    @hookimpl
    def mipro_run_completed(self, run: RunInfo, result: OptimizationResult) -> None:
        with self._lock:
            tracked = self._runs.pop(run.run_id, None)
        if tracked is None:
            return
        client, mlflow_run_id = tracked.client, tracked.mlflow_run_id
        try:
            skipped = run.replayed_trials if tracked.reattached else 0
            missing = [
                t for t in result.trials if t.number >= skipped and t.number not in tracked.logged
            ]
            self._log_trials(tracked, missing)
            self._log_metrics(tracked, _final_metrics(result), step=len(result.trials))
            client.set_tag(mlflow_run_id, "mipro.stopped_reason", result.stopped_reason)
            if self.log_artifact:
                with tempfile.TemporaryDirectory(prefix="mipro-mlflow-") as tmp:
                    path = result.save(Path(tmp) / "artifact.json")
                    client.log_artifact(mlflow_run_id, str(path), ARTIFACT_DIR)
                client.log_text(
                    mlflow_run_id, result.summary() + "\n", f"{ARTIFACT_DIR}/summary.txt"
                )
            if self.log_journal and run.journal is not None and Path(run.journal).is_file():
                client.log_artifact(mlflow_run_id, run.journal, ARTIFACT_DIR)
        finally:
            client.set_terminated(mlflow_run_id, "FINISHED")

    @hookimpl
    def mipro_run_failed(self, run: RunInfo, error: BaseException) -> None:
        with self._lock:
            tracked = self._runs.pop(run.run_id, None)
        if tracked is None:
            return
        client, mlflow_run_id = tracked.client, tracked.mlflow_run_id
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        try:
            description = " ".join(f"{type(error).__name__}: {error}".split())
            client.set_tag(mlflow_run_id, "mipro.error", description[:_MAX_PARAM])
        finally:
            client.set_terminated(mlflow_run_id, status)

    # ------------------------------------------------------------------ helpers

    def _experiment_id(self, client: MlflowClient) -> str:
        name = self.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name:
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            try:
                return str(client.create_experiment(name))
            except self._mlflow.exceptions.MlflowException:
                experiment = client.get_experiment_by_name(name)  # created concurrently
                if experiment is None:
                    raise
                return str(experiment.experiment_id)
        return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"  # "0": MLflow's Default

    def _previous_run(self, client: MlflowClient, experiment_id: str, run: RunInfo) -> str | None:
        if not self.continue_resumed_runs:
            return None
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_RUN_ID}` = '{run.run_id}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return str(found[0].info.run_id) if found else None

    def _log_params(self, tracked: _Tracked, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, str(value)[:_MAX_PARAM]) for key, value in params.items()]
        for start in range(0, len(items), _BATCH):
            tracked.client.log_batch(tracked.mlflow_run_id, params=items[start : start + _BATCH])

    def _log_trials(self, tracked: _Tracked, trials: Sequence[Trial]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, now, trial.number)
            for trial in trials
            for key, value in _trial_metrics(trial).items()
        ]
        for start in range(0, len(metrics), 10 * _BATCH):
            tracked.client.log_batch(
                tracked.mlflow_run_id, metrics=metrics[start : start + 10 * _BATCH]
            )
        tracked.logged.update(t.number for t in trials)

    def _log_metrics(self, tracked: _Tracked, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics: list[Metric] = [Metric(key, value, now, step) for key, value in values.items()]
        if metrics:
            tracked.client.log_batch(tracked.mlflow_run_id, metrics=metrics)


def _finite(values: Mapping[str, float | int | None]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in values.items()
        if value is not None and math.isfinite(float(value))
    }


def _trial_metrics(trial: Trial) -> dict[str, float]:
    return _finite(
        {
            "score": trial.score,
            f"{trial.kind}_score": trial.score,
            "best_score": trial.best_score,
            "lm_calls": trial.total_lm_calls,
            "elapsed_seconds": trial.elapsed,
            "errors": trial.errors,
        }
    )


def _final_metrics(result: OptimizationResult) -> dict[str, float]:
    return _finite(
        {
            "baseline_score": result.baseline_score,
            "final_best_score": result.best_score,
            "improvement": result.improvement,
            "total_lm_calls": result.lm_calls,
            "task_lm_calls": result.task_lm_calls,
            "proposer_lm_calls": result.proposer_lm_calls,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "seconds": result.seconds,
            "num_trials": len(result.trials),
            "cost": result.cost,
        }
    )
