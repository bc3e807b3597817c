"""Program runs on a local Ray instance give the same run as local threads (issue 20).

The first test lets the backend start and stop its own local instance; the others share one
instance (2 CPUs, this machine only) started by a module fixture and stopped at its end. Without
Ray installed the tests skip.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.integrations.ray import RayBackend
from tests.ray_app import CALL_LOG, KILL_DIR, PAID_DIR, build, calls, most_at_once
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install 'mipro-core[ray]')")

ROOT = Path(__file__).resolve().parents[1]
KILLS = Path(tempfile.mkdtemp(prefix="mipro-ray-kill-"))
ENV = {"env_vars": {"PYTHONPATH": str(ROOT), KILL_DIR: str(KILLS)}}
TRAIN, VAL = toy_data(16), toy_data(12, offset=100)
OPTIONS: dict[str, Any] = {
    "seed": 3,
    "num_threads": 4,
    "max_trials": 6,
    "minibatch_size": 4,
    "full_eval_every": 3,
    "progress": False,
}


@pytest.fixture(scope="module", autouse=True)
def _unauthenticated() -> Iterator[None]:
    # Ray 2.60 turns on token authentication and keeps a token under ~/.ray; these tests start
    # throwaway local instances instead of depending on what another run left behind
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield


def backend(**options: Any) -> RayBackend:
    return RayBackend(factory="tests.ray_app:build", num_cpus=2, runtime_env=ENV, **options)


def optimize(**options: Any) -> tuple[mc.OptimizationResult, Any]:
    program = build()
    result = mc.optimize(
        program, TRAIN, toy_metric, valset=VAL, proposer_lm=ToyLM(), **{**OPTIONS, **options}
    )
    return result, program


def outcome(result: mc.OptimizationResult) -> tuple[Any, ...]:
    trials = [(t.kind, dict(t.params), t.score, t.example_ids) for t in result.trials]
    return result.state.to_dict(), trials, result.task_lm_calls, result.proposer_lm_calls


@pytest.fixture(scope="module")
def local() -> mc.OptimizationResult:
    return optimize()[0]


def test_ray_runs_give_the_same_run_as_local_threads(local: mc.OptimizationResult) -> None:
    assert not ray.is_initialized()
    result, program = optimize(backend=backend())
    assert not ray.is_initialized()  # the backend stopped the instance it started
    assert outcome(result) == outcome(local)
    assert result.best_score > result.baseline_score  # the toy task has something to find
    current = {n: m.state.to_dict() for n, m in program.modules.items()}
    assert current == result.state.to_dict()  # written into the user's own program, as locally


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ENV)
    yield
    ray.shutdown()


def test_a_worker_killed_mid_run_is_retried_without_losing_a_run(
    local: mc.OptimizationResult, cluster: None
) -> None:
    (KILLS / "armed").touch()
    try:
        result, _ = optimize(backend=backend())
    finally:
        (KILLS / "armed").unlink()
    assert (KILLS / "killed").exists()  # a worker did die mid-run
    assert result.errors == 0
    assert outcome(result)[:2] == outcome(local)[:2]  # the same run
    assert result.proposer_lm_calls == local.proposer_lm_calls
    # each run lost with the worker (it runs two at a time; Ray cannot say whether one sent to
    # it while it restarted ran) counts the most calls a run made, one here, as it may have
    # paid for them (this worker died before its call)
    assert 1 <= result.task_lm_calls - local.task_lm_calls <= 2 * OPTIONS["num_threads"]


def test_a_worker_dead_for_good_gets_no_more_runs_the_others_take_them(
    local: mc.OptimizationResult, cluster: None, caplog: pytest.LogCaptureFixture
) -> None:
    # max_retries=0: the killed worker is not restarted; its runs (and their retries) used to
    # keep going to it, failing at once, until the error budget was spent
    (KILLS / "killed").unlink(missing_ok=True)  # an earlier test's death
    (KILLS / "armed").touch()
    try:
        with caplog.at_level(logging.WARNING, logger="mipro_core"):
            result, _ = optimize(backend=backend(max_retries=0))
    finally:
        (KILLS / "armed").unlink()
    assert (KILLS / "killed").exists()
    assert result.errors == 0
    assert outcome(result)[:2] == outcome(local)[:2]
    assert any("died for good" in r.getMessage() for r in caplog.records)


def paid_backend(folder: Path) -> RayBackend:
    env = {"env_vars": {**ENV["env_vars"], PAID_DIR: str(folder)}}
    return RayBackend(factory="tests.ray_app:build_paid", runtime_env=env)


def test_calls_a_worker_made_before_it_died_are_counted_and_capped(
    local: mc.OptimizationResult, cluster: None, tmp_path: Path
) -> None:
    # the worker makes (and pays for) a call, then dies: Ray used to re-run the run itself, and
    # only the attempt that finished was counted
    (tmp_path / "armed").touch()
    result, _ = optimize(backend=paid_backend(tmp_path))
    made = len(list((tmp_path / "calls").iterdir()))
    assert (tmp_path / "killed").exists()
    assert result.errors == 0  # the run was retried
    assert result.task_lm_calls >= made
    assert outcome(result)[:2] == outcome(local)[:2]


def test_max_lm_calls_holds_when_a_worker_dies_after_its_calls(
    local: mc.OptimizationResult, cluster: None, tmp_path: Path
) -> None:
    # a cap the run spends to the last call (Ray's own re-run of the dead run made one more)
    cap = 48
    assert optimize(max_lm_calls=cap)[0].lm_calls == cap
    (tmp_path / "armed").touch()
    result, _ = optimize(backend=paid_backend(tmp_path), max_lm_calls=cap)
    made = len(list((tmp_path / "calls").iterdir()))
    assert (tmp_path / "killed").exists()
    assert made + result.proposer_lm_calls <= cap
    assert result.lm_calls <= cap


def test_examples_with_the_same_inputs_and_other_labels_are_each_scored_on_the_workers(
    cluster: None,
) -> None:
    # a validation example asks what a training example asks, with another label: the workers
    # scored only runs whose inputs named one example, and the prediction (not JSON) could not
    # be scored here either
    from tests.ray_app import answer_metric, build_answer

    val = [*VAL, mc.Example({"question": "word3"}, {"answer": "WORD3 "})]
    settings = {**OPTIONS, "max_trials": 3}

    def run(backend: RayBackend | None) -> mc.OptimizationResult:
        return mc.optimize(
            build_answer(),
            TRAIN,
            answer_metric,
            valset=val,
            proposer_lm=ToyLM(),
            backend=backend,
            **settings,
        )

    remote = run(RayBackend(factory="tests.ray_app:build_answer"))
    # the same trials and state (the call counts may differ: on threads a native program's
    # prompt cache can answer the two examples' identical prompt once; see docs/scaling.md)
    assert outcome(remote)[:2] == outcome(run(None))[:2]


def test_budgets_hold_on_ray(local: mc.OptimizationResult, cluster: None) -> None:
    cap = local.lm_calls // 2
    result, _ = optimize(backend=backend(), max_lm_calls=cap)
    capped, _ = optimize(max_lm_calls=cap)
    assert result.lm_calls <= cap
    assert outcome(result) == outcome(capped)


def test_a_program_whose_clone_refuses_runs_one_trial_at_a_time_on_ray_too(
    cluster: None, caplog: pytest.LogCaptureFixture
) -> None:
    # 8 threads, minibatches of 4: two trials at once, unless clone() refuses; the workers'
    # copies used to hide the refusal, so Ray ran two trials at once where threads ran one
    from tests.ray_app import build_solo

    settings = {"num_threads": 8, "max_trials": 4}
    caplog.set_level("WARNING", logger="mipro_core")
    threads = mc.optimize(
        build_solo(), TRAIN, toy_metric, valset=VAL, proposer_lm=ToyLM(), **{**OPTIONS, **settings}
    )
    assert "parallel trials are off" in caplog.text
    caplog.clear()
    remote = mc.optimize(
        build_solo(),
        TRAIN,
        toy_metric,
        valset=VAL,
        proposer_lm=ToyLM(),
        backend=RayBackend(factory="tests.ray_app:build_solo"),
        **{**OPTIONS, **settings},
    )
    assert "parallel trials are off, one trial at a time: SoloProgram keeps" in caplog.text
    assert outcome(remote) == outcome(threads)


class _StopAfter:
    """A progress reporter that presses Ctrl-C once ``count`` trials are done."""

    def __init__(self, count: int) -> None:
        self.count = count

    def stage(self, text: str) -> None:
        pass

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        if done >= self.count:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


@pytest.mark.parametrize("first", ["ray", "local"])
def test_a_run_resumes_on_the_other_backend(
    first: str, local: mc.OptimizationResult, cluster: None, tmp_path: Path
) -> None:
    journal = tmp_path / "run.sqlite"
    try:
        partial, _ = optimize(
            backend=backend() if first == "ray" else None, journal=journal, progress=_StopAfter(2)
        )
        assert partial.stopped_reason == "interrupted"
    except KeyboardInterrupt:
        pass
    with mc.Journal.open(journal) as store:
        assert store.get("trial", "000002") is not None  # stopped mid-search
        assert store.get("trial", "000008") is None
    resumed = mc.resume(
        journal,
        build(),
        toy_metric,
        proposer_lm=ToyLM(),
        progress=False,
        backend=None if first == "ray" else backend(),
    )
    assert outcome(resumed)[:2] == outcome(local)[:2]


def slow_backend(log: Path, latency: float, **settings: Any) -> RayBackend:
    # CALL_LOG reaches the workers only through this backend's own runtime_env: the cluster
    # fixture's does not set it
    env = {"env_vars": {**ENV["env_vars"], CALL_LOG: str(log), "MIPRO_TEST_LATENCY": f"{latency}"}}
    return RayBackend(factory="tests.ray_app:build_slow", runtime_env=env, **settings)


def test_num_threads_runs_are_in_flight_on_a_smaller_cluster_within_timeout_and_deadline(
    cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # 16 threads on a 2-CPU cluster: LM runs wait on the provider, so all are in flight (with
    # Ray's default of one CPU per task 2 ran at a time, the others queued in Ray: they timed
    # out, and called the model long after max_seconds)
    import time

    from mipro_core._engine import engine

    started: list[float] = []
    original = engine.Engine.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        started.append(time.time())
        original(self, *args, **kwargs)

    monkeypatch.setattr(engine.Engine, "__init__", init)
    caplog.set_level("INFO", logger="mipro_core.integrations.ray")
    limit, latency = 1.5, 0.3
    backend = slow_backend(tmp_path, latency, num_cpus=2)
    options = {"num_threads": 16, "timeout": 1.2, "max_seconds": limit, "max_trials": 40}
    result, _ = optimize(backend=backend, **options)
    spans = calls(tmp_path)
    assert result.stopped_reason == "max_seconds"
    assert result.errors == 0  # runs waited nowhere before starting, workers were warm
    assert most_at_once(spans) > 2
    deadline = started[0] + limit
    late = [start - deadline for start, _ in spans if start > deadline]
    # a run admitted just before the deadline calls at once; none waits in a queue to call later
    assert max(late, default=0.0) < 2 * latency
    assert "fits 16 runs at once" in caplog.text
    assert "num_cpus do not apply" in caplog.text  # Ray was already initialised


def test_ending_the_session_cancels_the_runs_still_on_the_workers(
    cluster: None, tmp_path: Path
) -> None:
    # what the end of a run and a second Ctrl-C do: a run still on a worker (here, a call that
    # would take 60 s) is cancelled and its waiting thread freed, instead of running on
    import threading
    import time

    session = slow_backend(tmp_path, 60).connect(build(), toy_metric, TRAIN, num_threads=2)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            session.program.run(TRAIN[0].inputs)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not session._outstanding:  # the run is on a worker
        time.sleep(0.05)
    session.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [type(e).__name__ for e in raised] == ["RemoteRunError"]
    assert "ended during the run" in str(raised[0])


def test_a_bad_metric_reference_is_refused_before_any_lm_call(cluster: None) -> None:
    proposer = ToyLM()
    with pytest.raises(mc.InvalidInputError, match=r"RayBackend\.metric 'tests\.toy:nope'"):
        mc.optimize(
            build(),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=proposer,
            backend=RayBackend(factory="tests.ray_app:build", metric="tests.toy:nope"),
            **OPTIONS,
        )
    assert proposer.calls == 0


def test_a_worker_side_error_comes_back_as_a_plain_mipro_error(cluster: None) -> None:
    with pytest.raises(mc.InvalidInputError) as raised:
        mc.optimize(
            build(),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=ToyLM(),
            backend=RayBackend(factory="tests.ray_app:nope"),
            **OPTIONS,
        )
    text = str(raised.value)
    assert "RayBackend.factory" in text
    assert "\x1b" not in text and "Traceback" not in text and "RayTaskError" not in text


@pytest.mark.parametrize(
    ("factory", "cause"),
    [
        ("tests.ray_app:build_failing", "RuntimeError: no API key on this node"),
        ("tests.ray_app:build_dying", "worker process died while building the program"),
    ],
)
def test_a_factory_failing_on_the_workers_is_named_with_its_cause_before_any_lm_call(
    cluster: None, factory: str, cause: str
) -> None:
    proposer = ToyLM()
    with pytest.raises(mc.InvalidInputError) as raised:
        mc.optimize(
            build(),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=proposer,
            backend=RayBackend(factory=factory, max_retries=1),
            **OPTIONS,
        )
    text = str(raised.value)
    assert text.startswith(f"RayBackend.factory {factory}")
    assert cause in text
    assert "\x1b" not in text and "Traceback" not in text and "actor_id" not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert proposer.calls == 0


def test_workers_the_cluster_cannot_place_are_refused_after_start_timeout(
    cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another job holds the cluster's 2 CPUs: the workers (1 CPU each) cannot be placed; the
    # run used to wait for them forever
    from ray.util.placement_group import placement_group, remove_placement_group

    from mipro_core.integrations import _ray_session
    from tests.ray_app import DyingLM

    sessions: list[Any] = []
    original = _ray_session.RaySession.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(_ray_session.RaySession, "__init__", init)
    proposer, task_lm = ToyLM(), DyingLM()
    held = placement_group([{"CPU": 2}])
    ray.get(held.ready())
    try:
        with pytest.raises(mc.InvalidInputError) as raised:
            mc.optimize(
                toy_program(task_lm, stages=1),
                TRAIN,
                toy_metric,
                valset=VAL,
                proposer_lm=proposer,
                backend=RayBackend(factory="tests.ray_app:build", start_timeout=1.5),
                **OPTIONS,
            )
    finally:
        remove_placement_group(held)
    text = str(raised.value)
    assert "2 of 2 Ray workers did not start within 1.5 s (RayBackend.start_timeout)" in text
    assert "each asks for 1 CPU" in text
    assert "the cluster has 2 CPUs, 0 free" in text
    assert "raise start_timeout" in text
    assert proposer.calls == 0 and task_lm.calls == 0  # nothing was spent
    (session,) = sessions
    for actor in session._actors:  # stopped, not left waiting for CPUs
        with pytest.raises(ray.exceptions.RayActorError, match=r"ray\.kill"):
            ray.get(actor.ready.remote(), timeout=30)


def test_a_runtime_env_ray_refuses_is_named(cluster: None) -> None:
    backend = RayBackend(factory="tests.ray_app:build", runtime_env={"working_dir": "/no/such"})
    with pytest.raises(mc.InvalidInputError, match=r"RayBackend\.runtime_env: .*/no/such"):
        backend.connect(build(), toy_metric, TRAIN, num_threads=2)


def test_the_start_timeout_message_says_when_no_node_can_hold_a_worker() -> None:
    # two 2-CPU nodes, 4 CPUs free: workers of 3 CPUs fit the total, never a node
    from mipro_core.integrations._ray_start import died, unplaced

    class Cluster:
        @staticmethod
        def cluster_resources() -> dict[str, float]:
            return {"CPU": 4.0}

        @staticmethod
        def available_resources() -> dict[str, float]:
            return {"CPU": 4.0}

        @staticmethod
        def nodes() -> list[dict[str, Any]]:
            node = {"Alive": True, "Resources": {"CPU": 2.0}}
            return [node, node, {"Alive": False, "Resources": {"CPU": 8.0}}]

    text = unplaced(Cluster(), 1, 1, 3.0, 60)
    assert text.startswith("1 of 1 Ray workers did not start within 60 s")
    assert (
        "each asks for 3 CPUs, and the cluster has 4 CPUs, 4 free; no node has more than 2" in text
    )
    report = (
        "The actor died unexpectedly before finishing this task.\n\tactor_id: 1f\n\tpid: 7\n"
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR "
        "Worker exit detail: Worker unexpectedly exits with a connection error code 2. End of "
        "file. Some common causes include: (1) the process was killed by the OOM killer"
    )
    assert died(RuntimeError(report)) == (
        "Worker unexpectedly exits with a connection error code 2. End of file"
    )


def test_start_timeout_must_be_a_positive_number() -> None:
    for bad in (0, -1.0, True, "60", float("inf"), float("nan")):
        with pytest.raises(mc.InvalidInputError, match="start_timeout"):
            RayBackend(factory="a:b", start_timeout=bad)  # type: ignore[arg-type]


def test_a_task_error_names_its_cause_without_the_remote_traceback() -> None:
    from mipro_core.integrations._ray_remote import RemoteRunError, worker_error

    class TaskError(Exception):
        cause = ValueError("\x1b[31mbad value\x1b[0m")

    error = worker_error(TaskError("Traceback (most recent call last): ..."))
    assert isinstance(error, RemoteRunError)
    assert str(error) == "ValueError on a Ray worker: bad value"
    from mipro_core._transient import is_transient

    assert not is_transient(error)


def test_an_unreachable_address_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: pytest.fail("ray.init was called"))
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(mc.InvalidInputError, match=f"RayBackend.address '{address}'"):
            RayBackend(factory="tests.ray_app:build", address=address).connect(
                build(), toy_metric, TRAIN, num_threads=2
            )


def test_an_address_that_is_not_a_cluster_address_is_refused_before_ray_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 'headnode' (no port) used to reach ray.init and fail there with Ray's own ValueError
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: pytest.fail("ray.init was called"))
    for address in ("headnode", "http://head:8265", "ray://head", "head:port", ""):
        with pytest.raises(mc.InvalidInputError) as raised:
            RayBackend(factory="tests.ray_app:build", address=address).connect(
                build(), toy_metric, TRAIN, num_threads=2
            )
        text = str(raised.value)
        assert text.startswith(f"RayBackend.address {address!r}")
        assert "'host:port', 'ray://host:port' or 'auto'" in text
    for good in ("auto", "head:6379", "ray://head:10001", "[::1]:6379"):
        assert RayBackend(factory="a:b", address=good).address == good


def test_the_cli_says_when_ray_took_the_app_as_its_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from mipro_core._cli_optimize_args import configure_optimize

    parser = argparse.ArgumentParser()
    configure_optimize(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--ray", "myapp:build", "--train", "t.jsonl", "--metric", "a:b"])
    error = capsys.readouterr().err
    assert "--ray took 'myapp:build' (APP?) as the cluster address" in error
    assert "put --ray after APP or write --ray=ADDRESS" in error
    with pytest.raises(SystemExit):
        parser.parse_args(["app:build", "--train", "t.jsonl", "--ray", "headnode"])
    assert "'host:port', 'ray://host:port' or 'auto'" in capsys.readouterr().err
    args = parser.parse_args(
        ["app:build", "--train", "t.jsonl", "--metric", "a:b", "--ray=head:6379"]
    )
    assert args.ray == "head:6379"


def test_the_runs_in_flight_follow_num_threads_or_the_cpus_a_run_needs() -> None:
    from mipro_core.integrations._ray_session import Layout, plan

    assert plan(2, 16, None) == Layout(runs=16, actors=2, per_actor=8, actor_cpus=1.0)
    assert plan(64, 4, None) == Layout(runs=4, actors=4, per_actor=1, actor_cpus=1.0)
    assert plan(2, 16, 1) == Layout(runs=2, actors=2, per_actor=1, actor_cpus=1)
    assert plan(8, 16, 2.0) == Layout(runs=4, actors=4, per_actor=1, actor_cpus=2.0)
    assert plan(2, 16, 0.5) == Layout(runs=4, actors=2, per_actor=2, actor_cpus=1.0)
    with pytest.raises(mc.InvalidInputError, match="num_cpus_per_run=4 does not fit"):
        plan(2, 8, 4)
    with pytest.raises(mc.InvalidInputError, match="num_cpus_per_run"):
        RayBackend(factory="a:b", num_cpus_per_run=0)


def test_a_fit_mismatch_names_what_differs() -> None:
    from mipro_core.integrations._ray_session import _difference

    one = {"inputs": ["question"], "outputs": ["answer"]}
    other = {"inputs": ["q"], "outputs": ["answer"]}
    assert "modules ['a', 'b'], this one ['a']" in _difference({"a": one}, {"a": one, "b": one})
    assert _difference({"a": one}, {"a": other}) == (
        "module 'a' has fields ['q'] -> ['answer'] on the workers, ['question'] -> ['answer'] here"
    )


def test_a_factory_that_builds_another_program_is_refused(cluster: None) -> None:
    with pytest.raises(mc.InvalidInputError, match="must build the same app"):
        mc.optimize(
            toy_program(ToyLM(), stages=2),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=ToyLM(),
            backend=backend(),
            **OPTIONS,
        )


def test_bad_backend_settings_are_refused() -> None:
    with pytest.raises(mc.InvalidInputError, match="module:attribute"):
        RayBackend(factory="no_colon")
    with pytest.raises(mc.InvalidInputError, match="max_retries"):
        RayBackend(factory="a:b", max_retries=-1)


def test_the_metric_runs_on_the_workers_when_importable() -> None:
    from mipro_core.integrations._ray_session import _reference

    assert _reference(toy_metric) == "tests.toy:toy_metric"
    assert _reference(lambda e, p: 1.0) is None  # scored on the driver instead


def test_the_cli_flag_asks_for_a_ray_backend() -> None:
    import argparse

    from mipro_core._cli_optimize_args import configure_optimize
    from mipro_core._cli_ray import ray_backend as _ray_backend

    parser = argparse.ArgumentParser()
    configure_optimize(parser)
    common = ["app:build", "--train", "train.jsonl", "--metric", "app:score"]
    assert _ray_backend(parser.parse_args(common)) is None
    local = _ray_backend(parser.parse_args([*common, "--ray"]))
    assert (local.factory, local.metric, local.address) == ("app:build", "app:score", None)
    assert str(Path.cwd()) in local.runtime_env["env_vars"]["PYTHONPATH"]  # workers import APP
    remote = _ray_backend(parser.parse_args([*common, "--ray", "ray://head:10001"]))
    assert remote.address == "ray://head:10001" and remote.runtime_env is None


def test_mipro_resume_ray_continues_a_local_run_on_ray_workers(
    local: mc.OptimizationResult, cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mipro_core.cli import main

    journal = tmp_path / "run.sqlite"
    try:
        partial, _ = optimize(journal=journal, progress=_StopAfter(2))
        assert partial.stopped_reason == "interrupted"
    except KeyboardInterrupt:
        pass
    monkeypatch.chdir(ROOT)  # resume imports the app from the current directory
    artifact = tmp_path / "best.json"
    flags = ["--app", "tests.ray_app:build", "--metric", "tests.toy:toy_metric"]
    flags += ["--proposer", "tests.toy:ToyLM", "--out", str(artifact), "--ray"]
    assert main(["resume", str(journal), *flags]) == 0
    assert mc.read_artifact(artifact).state.to_dict() == local.state.to_dict()


def test_mipro_resume_ray_of_a_demo_journal_names_what_it_needs(tmp_path: Path) -> None:
    import argparse

    from mipro_core._cli_resume import _backend

    args = argparse.Namespace(ray="local")
    with pytest.raises(mc.InvalidInputError, match="resume it without --ray"):
        _backend(args, {}, tmp_path / "demo.sqlite")
    assert _backend(argparse.Namespace(ray=None), {}, tmp_path / "demo.sqlite") is None
