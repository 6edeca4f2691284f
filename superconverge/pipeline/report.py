"""``report.html``: one self-contained page (images embedded) built from the run directory."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from superconverge.io import atomic_write_text, read_csv, read_json
from superconverge.pipeline import lr_trials_record
from superconverge.pipeline.rundir import TRAINING_RUNS, RunDirectory
from superconverge.plotting import new_figure, plot_schedule, save_figure

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
       max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; } th, td { padding: 0.35em 0.8em;
        border-bottom: 1px solid #e5e5e5; text-align: right; } th { background: #f5f5f7; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; }
.muted { color: #6e6e73; font-size: 0.9em; } .reason { background: #f5f5f7; padding: 0.6em 1em;
         border-radius: 6px; } code { background: #f5f5f7; padding: 0 0.3em; }
.good { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
"""


def _embed(figure_or_path: Any) -> str:
    if isinstance(figure_or_path, Path):
        data = figure_or_path.read_bytes()
    else:
        buffer = io.BytesIO()
        figure_or_path.savefig(buffer, format="png", dpi=110)
        data = buffer.getvalue()
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _read_optional_json(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def _curves_figure(histories: dict[str, list[dict[str, float]]]) -> Any:
    figure, (ax_loss, ax_acc) = new_figure(9.0, 3.6, ncols=2)
    colors = {"one_cycle": "C0", "baseline": "C1"}
    labels = {"one_cycle": "one-cycle", "baseline": "baseline"}
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        color = colors.get(name, "C2")
        # a single epoch is a single point: a line alone would draw nothing
        marker = "o" if len(rows) < 3 else None
        for key, style, suffix in (("loss", "--", " train"), ("val_loss", "-", " val")):
            if rows and key in rows[0]:
                ax_loss.plot(epochs, [r[key] for r in rows], style, color=color,
                             marker=marker, label=labels.get(name, name) + suffix)
        for key, style, suffix in (("accuracy", "--", " train"), ("val_accuracy", "-", " val")):
            if rows and key in rows[0]:
                ax_acc.plot(epochs, [r[key] for r in rows], style, color=color,
                            marker=marker, label=labels.get(name, name) + suffix)
    from matplotlib.ticker import MaxNLocator

    ax_loss.set_ylabel("loss")
    ax_acc.set_ylabel("accuracy")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_loss.set_title("loss per epoch")
    ax_acc.set_title("accuracy per epoch")
    return figure


def _fmt(value: Any, digits: int = 4) -> str:
    """A value for the page: numbers formatted, anything else escaped (run directories may
    be shared and re-reported, so no file's content is ever inserted as markup)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _number(value: Any, spec: str, scale: float = 1.0) -> str:
    """``format(value * scale, spec)`` for a number; the escaped text of anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(value * scale, spec)
    return html.escape(str(value))


def _summary_table(metrics: dict[str, Any]) -> str:
    rows = []
    for name, label in (("one_cycle", "One Cycle"), ("baseline", "Baseline (step decay)")):
        if name not in metrics:
            continue
        m = metrics[name]
        wall = _number(m.get("wall_time"), ".1f")
        if name == "one_cycle" and m.get("range_test_seconds"):
            wall += f" + {_number(m['range_test_seconds'], '.1f')} s range test"
        rows.append(
            f"<tr><td>{label}</td><td>{_fmt(m.get('epochs'))}</td><td>{wall} s</td>"
            f"<td>{_number(m.get('test_accuracy'), '.2f', 100)}%</td>"
            f"<td>{_number(m.get('test_loss'), '.4f')}</td></tr>"
        )
    table = (
        "<table><tr><th>run</th><th>epochs</th><th>wall time</th><th>test accuracy</th>"
        "<th>test loss</th></tr>" + "".join(rows) + "</table>"
    )
    comparison = metrics.get("comparison")
    if comparison:
        try:
            diff = 100 * float(comparison["accuracy_difference"])
            epochs = _ratio_phrase(float(comparison["epoch_ratio"]), "epochs")
            wall = _ratio_phrase(float(comparison["wall_time_ratio"]), "wall time")
        except (KeyError, TypeError, ValueError):
            return table + "<p class='bad'>metrics.json has no readable comparison.</p>"
        css = "good" if diff >= 0 else "bad"
        included = ("range test included" if "wall_time_ratio_training_only" in comparison
                    else "range test not included")
        table += (
            f"<p>One Cycle used {epochs} and {wall} ({included}) than the baseline; "
            f"its test accuracy is <span class='{css}'>{diff:+.2f} points</span> against "
            "the baseline's.</p>"
        )
        if comparison.get("low_confidence_bounds"):
            table += _LOW_CONFIDENCE_NOTE
    return table


_LOW_CONFIDENCE_NOTE = (
    "<p class='bad'>The LR bounds had a low confidence: the max LR was a guess (see the "
    "bounds section), so this comparison may be between models that did not train well. "
    "Check the range-test plot, or set the max LR yourself.</p>"
)


def _ratio_phrase(baseline_over_one_cycle: float, what: str) -> str:
    """'<b>4.00× fewer epochs</b>' or '<b>1.30× more wall time</b>'."""
    if baseline_over_one_cycle >= 1:
        word = "fewer" if what == "epochs" else "less"
        return f"<b>{baseline_over_one_cycle:.2f}× {word} {what}</b>"
    return f"<b>{1 / baseline_over_one_cycle:.2f}× more {what}</b>"


def write_report(run_dir: str | Path) -> Path:
    """Build ``report.html`` from the files of ``run_dir`` (each section only if its data is
    there) and save the figures under ``figures/``."""
    files = RunDirectory(run_dir)
    config = _read_optional_json(files.config) or {}
    environment = _read_optional_json(files.environment) or {}
    data = _read_optional_json(files.data) or {}
    bounds = _read_optional_json(files.bounds)
    metrics = _read_optional_json(files.metrics) or {}
    tuning = _read_optional_json(files.tuning)
    sections: list[str] = []

    title = f"superconverge run: {config.get('model', '?')} on {config.get('dataset', '?')}"
    sections.append(f"<h1>{html.escape(title)}</h1>")
    sections.append(
        f"<p class='muted'>Keras backend <code>{_fmt(environment.get('keras_backend'))}"
        f"</code> · {_fmt(data.get('train'))} training / {_fmt(data.get('val'))} validation / "
        f"{_fmt(data.get('test'))} test examples · seed {_fmt(config.get('seed'))}</p>"
    )
    if metrics:
        sections.append("<h2>Summary</h2>" + _summary_table(metrics))
    budget = metrics.get("budget")
    if isinstance(budget, dict):
        sections.append(
            "<h2>Wall-clock budget</h2><table><tr><th></th><th>seconds</th></tr>"
            f"<tr><td>budget</td><td>{_number(budget.get('budget_seconds'), '.0f')}</td></tr>"
            f"<tr><td>planned ({_fmt(budget.get('planned_epochs'))} epochs)</td>"
            f"<td>{_number(budget.get('planned_seconds'), '.0f')}</td></tr>"
            f"<tr><td>actual (preparation, range test, one-cycle training)</td>"
            f"<td>{_number(budget.get('actual_seconds'), '.0f')}</td></tr></table>"
        )

    if tuning:
        sections.append("<h2>Weight decay and batch-norm momentum</h2>")
        sections.append(f"<p class='reason'>{html.escape(str(tuning.get('reason', '')))}</p>")
        for image in sorted(files.tuning_plots.glob("*.png")) if files.tuning_plots.exists() \
                else []:
            sections.append(_embed(image))

    if bounds:
        sections.append("<h2>Learning-rate bounds</h2>")
        if bounds.get("low_confidence"):
            sections.append(
                "<p class='bad'>Low confidence: the range-test curve did not show a clear "
                "descent and blow-up, so the max LR below is a guess. Look at the plot, widen "
                "the range test, or set the max LR yourself.</p>"
            )
        sections.append(
            f"<p>max LR <b>{_number(bounds.get('max_lr'), '.3g')}</b>, min LR "
            f"<b>{_number(bounds.get('min_lr'), '.3g')}</b> "
            f"(method <code>{_fmt(bounds.get('method'))}</code>, confidence "
            f"{_number(bounds.get('confidence'), '.2f')}); batch-norm momentum "
            f"{_fmt(bounds.get('bn_momentum'))}, weight decay {_fmt(bounds.get('weight_decay'))}"
            f"; for {_fmt(bounds.get('planned_epochs'))} epochs "
            f"({_fmt(bounds.get('planned_steps'))} optimizer steps): "
            + ("the max LR was picked for that budget" if bounds.get("budget_aware")
               else "the max LR does not depend on the budget")
            + "</p>"
        )
        sections.append(f"<p class='reason'>{_fmt(bounds.get('reason'))}</p>")
        if int(bounds.get("range_repeats") or 1) > 1:
            picks = ", ".join(_number(p, ".3g") for p in bounds.get("sweep_max_lrs") or [])
            sections.append(
                f"<p>Read off the average of {bounds['range_repeats']} range tests, each from "
                f"its own initial weights and shuffle; each alone would have given {picks} "
                f"(spread {_number(bounds.get('sweep_spread_decades'), '.3f')} decade).</p>")
        trials = _read_optional_json(files.lr_trials) if bounds.get("chosen_by") else None
        if trials:
            rows = "".join(
                f"<tr><td>{_number(t['max_lr'], '.3g')}</td>"
                f"<td>{_number(t['val_accuracy'], '.4f')}</td>"
                f"<td>{_number(t['val_loss'], '.4f')}</td></tr>" for t in trials["trials"])
            verdict = html.escape(lr_trials_record.verdict(trials), quote=False)
            sections.append(
                f"<p>Max LR chosen by trial runs: the range test picked "
                f"{_number(trials['range_test_max_lr'], '.3g')}; a One Cycle of "
                f"{trials['fraction']:g} of the planned steps at each candidate below, from the "
                f"run's initial weights: {verdict}.</p>"
                "<table><tr><th>max LR</th><th>val accuracy</th><th>val loss</th></tr>"
                f"{rows}</table>")
        if bounds.get("batch_size_reason"):
            sections.append(f"<p>Batch size: {_fmt(bounds.get('batch_size_reason'))}.</p>")
        sections.append(
            "<p class='muted'>The validation probes run in inference mode with batch-norm "
            "moving statistics that lag weights changing this fast, which is why their loss "
            "can rise inside the chosen band while the training loss still falls.</p>"
        )
        if (files.range_test_plot).exists():
            sections.append(_embed(files.range_test_plot))

    schedule_config = _read_optional_json(files.one_cycle_schedule)
    if schedule_config and (files.applied("one_cycle")).exists():
        from superconverge.schedules import OneCycleSchedule

        rows = read_csv(files.applied("one_cycle"))
        applied = {k: [r[k] for r in rows] for k in ("step", "learning_rate", "momentum")}
        figure = plot_schedule(OneCycleSchedule.from_config(schedule_config), applied=applied)
        save_figure(figure, files.figure("one_cycle_schedule"))
        sections.append("<h2>LR and momentum applied</h2>" + _embed(figure))
        sections.append(
            "<p class='muted'>Line: the policy; dots: the values recorded at each optimizer "
            "step during training (including steps replayed after a resume).</p>"
        )

    histories = {
        name: read_csv(files.history(name))
        for name in TRAINING_RUNS
        if (files.history(name)).exists()
    }
    if histories:
        figure = _curves_figure(histories)
        save_figure(figure, files.figure("training_curves"))
        sections.append("<h2>Training curves</h2>" + _embed(figure))

    sections.append("<h2>Configuration</h2>")
    sections.append(f"<pre>{html.escape(json.dumps(config, indent=2, sort_keys=True))}</pre>")
    packages = environment.get("packages", {})
    sections.append(
        "<p class='muted'>"
        + html.escape(", ".join(f"{k} {v}" for k, v in sorted(packages.items())))
        + f" · {html.escape(str(environment.get('platform', '')))}</p>"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    return atomic_write_text(files.report, page)
