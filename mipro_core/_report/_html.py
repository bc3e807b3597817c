"""The report as one self-contained HTML page.

Nothing is fetched: the CSS is inline, the figures are ``data:`` PNGs, there is no script. A
Content-Security-Policy in the page allows exactly that (``default-src 'none'``, images from
``data:`` only, the one inline stylesheet by its hash), so even a page edited by hand cannot
reach the network. Everything that comes from the run (prompts, demos, module names,
configuration values) is untrusted: it is passed through :func:`esc` (control and bidirectional
characters made visible, then :func:`html.escape`) before it reaches the page.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .._result import Trial, credit_trials
from .._types import Demo
from .._version import __version__
from ._data import ChoiceScore, ModuleReport, ReportData, Section
from ._diff import REWRITTEN, changed_share, diff_html, esc, side_by_side_html
from ._plots import Figures

__all__ = ["diff_html", "esc", "render_html"]

CSS = """
:root { --ink: #1d2733; --muted: #5c6b7a; --line: #d9e0e7; --panel: #f5f7fa;
  --accent: #00798c; --ins: #d8f3dc; --ins-ink: #1b5e20; --del: #fde2e4; --del-ink: #8b1e2d; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1em; margin: 0 0 8px; }
h4 { font-size: 0.95em; margin: 16px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; }
.source { color: var(--muted); margin: 0 0 16px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 16px; min-width: 150px; }
.card .value { font-size: 1.5em; font-weight: 600; }
.card .name { color: var(--muted); font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #edae49; padding: 8px 12px; margin: 12px 0; }
figure { margin: 12px 0 20px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.module { border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
.badge { display: inline-block; font-size: 0.75em; font-weight: 600; padding: 1px 8px;
  border-radius: 10px; margin-left: 8px; vertical-align: middle; background: var(--panel);
  border: 1px solid var(--line); color: var(--muted); }
.badge.changed { background: var(--ins); color: var(--ins-ink); border-color: #b7e4c7; }
pre, .diff, .demo-body { white-space: pre-wrap; word-wrap: break-word; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 4px 0 8px;
  font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
ins { background: var(--ins); color: var(--ins-ink); text-decoration: none; }
del { background: var(--del); color: var(--del-ink); margin-right: 2px; }
.demo { margin: 8px 0; }
.demo .fields { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.demo .key { color: var(--muted); }
.demo hr { border: 0; border-top: 1px dashed var(--line); margin: 4px 0; }
details > summary { cursor: pointer; color: var(--accent); margin: 4px 0; }
.sections { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 0 24px; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
"""


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """A table; cells are already HTML (callers escape)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- sections ----------------------------------------------------------------------------------


def _summary(data: ReportData) -> str:
    cards = [
        ("baseline score", _score(data.baseline_score)),
        ("best score", _score(data.best_score)),
    ]
    if data.baseline_score is not None and data.best_score is not None:
        cards.append(("improvement", f"{data.best_score - data.baseline_score:+.3f}"))
    if data.trials:
        cards.append(("trials", str(len(data.trials))))
    if data.lm_calls is not None:
        cards.append(("LM calls", str(data.lm_calls)))
    cards.append(("modules", str(len(data.modules))))
    items = "".join(
        f'<div class="card"><div class="value">{value}</div><div class="name">{name}</div></div>'
        for name, value in cards
    )
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in data.notes)
    return f'<section id="summary"><div class="cards">{items}</div>{notes}</section>'


def _figure(figures: Figures, key: str, caption: str) -> str:
    encoded = base64.b64encode(figures.png[key]).decode("ascii")
    title = esc(figures.titles[key])
    return (
        f'<figure id="fig-{key}"><img src="data:image/png;base64,{encoded}" alt="{title}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _trajectory(data: ReportData, figures: Figures) -> str:
    if "score_by_trial" not in figures.png:
        return ""
    parts = [
        '<section id="trajectory"><h2>Score trajectory</h2>',
        _figure(
            figures,
            "score_by_trial",
            "Each dot is a trial scored on a random minibatch of the validation set; diamonds "
            "are full evaluations on the whole validation set (trial 0 is the unmodified "
            "program); the line is the best full score so far.",
        ),
    ]
    if "score_by_lm_calls" in figures.png:
        parts.append(
            _figure(
                figures,
                "score_by_lm_calls",
                "The same trials against the LM calls spent so far. The calls made before the "
                "search (bootstrapping demos, proposing instructions) appear as the jump after "
                "trial 0; runs answered from the run's cache are not counted again.",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _credit(data: ReportData, figures: Figures) -> str:
    if not data.has_credit:
        return ""
    rows = [
        (esc(m.name), _share(m.instruction_share), _share(m.demos_share))
        for m in data.modules
        if m.instruction_share is not None or m.demos_share is not None
    ]
    figure = (
        _figure(
            figures,
            "credit",
            f"How much of the variation in {_credit_scores(data)} each module's instruction "
            "and demo-set choices explain (eta squared). A high share means the module's prompt "
            "choice mattered; near zero means its choices did not move the score.",
        )
        if "credit" in figures.png
        else ""
    )
    table = _table(("module", "instruction choice", "demo-set choice"), rows, numeric=(1, 2))
    return f'<section id="credit"><h2>Per-module credit</h2>{figure}{table}</section>'


def _credit_scores(data: ReportData) -> str:
    basis, _ = credit_trials(data.trials)
    if basis == "minibatch":
        return "minibatch scores"
    return "full-evaluation scores (the run had no minibatch trials)"


def _candidate_count(module: ModuleReport) -> str:
    """``7: 6 before the repair round, the original #0 included, + 1 from the repair round``
    (``... rounds, ... + 3 from the repair rounds`` after rescue rounds)."""
    total, repairs = module.instruction_candidates or 0, module.repair_indices
    if not repairs:
        return f"{total}, the original #0 included"
    first, rounds = repairs[0], "repair round" if len(repairs) == 1 else "repair rounds"
    later = total - first - len(repairs)
    return (
        f"{total}: {first} before the {rounds}, the original #0 included, "
        f"+ {len(repairs)} from the {rounds}"
        + (f", + {later} from later proposal rounds" if later > 0 else "")
    )


def _choice_table(
    title: str, means: Sequence[ChoiceScore], chosen: int | None, *, repairs: Sequence[int] = ()
) -> str:
    if not means:
        return ""
    rows = [
        (
            f"#{c.index}"
            + (" (original)" if c.index == 0 else "")
            + (" (repair round)" if c.index in repairs else "")
            + (" ★ chosen" if c.index == chosen else ""),
            "–" if c.best_full is None else f"{c.best_full:.3f}",
            "–" if c.mean is None else f"{c.mean:.3f}",
            str(c.count),
        )
        for c in means
    ]
    return f"<h4>{title}</h4>" + _table(
        ("candidate", "best full evaluation", "mean minibatch score", "minibatch trials"),
        rows,
        numeric=(1, 2, 3),
    )


WINNER_RULE = (
    "The winner is the configuration with the highest score on the whole validation set (a "
    "full evaluation); minibatch scores only steer the search, and a few noisy minibatches can "
    "rank a candidate high that the full evaluation does not confirm. So the chosen (★) "
    "candidate is the one with the best full evaluation, not necessarily the best minibatch mean."
)


def _fields(values: Mapping[str, Any]) -> str:
    if not values:
        return '<div class="fields"><span class="key">(none)</span><span></span></div>'
    cells = "".join(
        f'<span class="key">{esc(k)}</span><span>{esc(v)}</span>' for k, v in values.items()
    )
    return f'<div class="fields">{cells}</div>'


def _demos(demos: Sequence[Demo]) -> str:
    items = []
    for number, demo in enumerate(demos, 1):
        items.append(
            f'<div class="demo"><strong>Demo {number}</strong> '
            f'<span class="badge">{esc(demo.source)}</span>'
            f'<div class="demo-body">{_fields(demo.inputs)}<hr>{_fields(demo.outputs)}</div></div>'
        )
    return "".join(items)


def _module(module: ModuleReport) -> str:
    changed = module.changed
    if not module.searched and module.original_instruction is not None:
        badge = '<span class="badge">not searched</span>'
    elif changed is None:
        badge = ""
    else:
        badge = (
            '<span class="badge changed">instruction changed</span>'
            if changed
            else '<span class="badge">instruction unchanged</span>'
        )
    parts = [f'<article class="module"><h3>{esc(module.name)}{badge}</h3>']
    if module.best_instruction is None:
        parts.append("<p>No prompts recorded for this module yet.</p></article>")
        return "".join(parts)
    old = module.original_instruction
    if old is not None and changed and changed_share(old, module.best_instruction) > REWRITTEN:
        parts.append("<h4>Original and winning instruction (rewritten: side by side)</h4>")
        parts.append(side_by_side_html(old, module.best_instruction))
    elif old is not None and changed:
        parts.append("<h4>Original → winning instruction (diff)</h4>")
        parts.append(f'<div class="diff">{diff_html(old, module.best_instruction)}</div>')
        parts.append(
            f'<details><summary>Original instruction</summary><pre class="original">'
            f"{esc(old)}</pre></details>"
        )
    which = ""
    if module.instruction_index is not None and module.instruction_candidates:
        which = (
            f" (candidate #{module.instruction_index} of the module's {_candidate_count(module)})"
        )
    parts.append(f"<h4>Winning instruction{which}</h4>")
    parts.append(f'<pre class="winning">{esc(module.best_instruction)}</pre>')
    if module.demos is not None:
        which = ""
        if module.demo_set_index is not None and module.demo_sets:
            which = f", set #{module.demo_set_index} of the module's {module.demo_sets}"
        parts.append(f"<h4>Demos ({len(module.demos)}{which})</h4>")
        parts.append(_demos(module.demos) if module.demos else "<p>No demos.</p>")
    parts.append(
        _choice_table(
            "Instruction candidates tried",
            module.instruction_means,
            module.instruction_index,
            repairs=module.repair_indices,
        )
    )
    parts.append(_choice_table("Demo sets tried", module.demo_means, module.demo_set_index))
    parts.append("</article>")
    return "".join(parts)


def _modules(data: ReportData) -> str:
    body = "".join(_module(m) for m in data.modules) or "<p>No modules recorded.</p>"
    rule = f"<p>{esc(WINNER_RULE)}</p>" if data.has_trials else ""
    return f'<section id="modules"><h2>Prompts per module</h2>{rule}{body}</section>'


def _params(trial: Trial) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(trial.params.items())) or "(original prompts)"


def _trials(data: ReportData) -> str:
    if not data.trials:
        return ""
    calls = data.lm_calls_at if len(data.lm_calls_at) == len(data.trials) else None
    rows = [
        (
            str(t.number),
            t.kind + ("" if t.complete else " (cut short)"),
            _score(t.score),
            str(len(t.example_ids)),
            str(t.lm_calls),
            "–" if calls is None else str(calls[i]),
            str(t.errors),
            str(t.malformed),
            esc(_params(t)),
        )
        for i, t in enumerate(data.trials)
    ]
    headers = (
        "#",
        "kind",
        "score",
        "examples",
        "LM calls",
        "cumulative",
        "errors",
        "malformed",
        "configuration",
    )
    table = _table(headers, rows, numeric=(0, 2, 3, 4, 5, 6, 7))
    return (
        f'<section id="trials"><h2>Trials</h2><details><summary>All {len(data.trials)} trials'
        f"</summary>{table}</details></section>"
    )


def _section(section: Section) -> str:
    rows = [(esc(k), esc(v)) for k, v in section.rows]
    return f"<div><h4>{esc(section.title)}</h4>{_table(('setting', 'value'), rows)}</div>"


def _config(data: ReportData) -> str:
    body = "".join(_section(s) for s in data.config)
    return f'<section id="config"><h2>Run configuration</h2><div class="sections">{body}</div></section>'


def render_html(data: ReportData, figures: Figures, *, now: datetime | None = None) -> str:
    """The whole page."""
    moment = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    style_hash = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
    policy = (
        f"default-src 'none'; img-src data:; style-src 'sha256-{style_hash}'; form-action 'none'"
    )
    kind = {"journal": "journal", "artifact": "artifact", "result": "optimization result"}[
        data.kind
    ]
    body = "".join(
        (
            "<main><h1>mipro run report</h1>",
            f'<p class="source">from the {kind} <code>{esc(data.source)}</code></p>',
            _summary(data),
            _trajectory(data, figures),
            _credit(data, figures),
            _modules(data),
            _trials(data),
            _config(data),
            f"<footer>Generated by mipro {esc(__version__)} on {esc(moment)}. This page is "
            "self-contained: no scripts, no network requests.</footer></main>",
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>mipro report: {esc(data.source)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )
