"""``report.html``: one self-contained page (images embedded) built from the run directory."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from superconverge.io import atomic_write_text, read_csv, read_json
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
        for key, style, suffix in (("loss", "--", " train"), ("val_loss", "-", " val")):
            if rows and key in rows[0]:
                ax_loss.plot(epochs, [r[key] for r in rows], style, color=color,
                             label=labels.get(name, name) + suffix)
        for key, style, suffix in (("accuracy", "--", " train"), ("val_accuracy", "-", " val")):
            if rows and key in rows[0]:
                ax_acc.plot(epochs, [r[key] for r in rows], style, color=color,
                            label=labels.get(name, name) + suffix)
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
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _summary_table(metrics: dict[str, Any]) -> str:
    rows = []
    for name, label in (("one_cycle", "One Cycle"), ("baseline", "Baseline (step decay)")):
        if name not in metrics:
            continue
        m = metrics[name]
        rows.append(
            f"<tr><td>{label}</td><td>{m['epochs']}</td><td>{m['wall_time']:.1f} s</td>"
            f"<td>{100 * m['test_accuracy']:.2f}%</td><td>{m['test_loss']:.4f}</td></tr>"
        )
    table = (
        "<table><tr><th>run</th><th>epochs</th><th>wall time</th><th>test accuracy</th>"
        "<th>test loss</th></tr>" + "".join(rows) + "</table>"
    )
    comparison = metrics.get("comparison")
    if comparison:
        diff = 100 * comparison["accuracy_difference"]
        css = "good" if diff >= 0 else "bad"
        table += (
            f"<p>One Cycle used {_ratio_phrase(comparison['epoch_ratio'], 'epochs')} and "
            f"{_ratio_phrase(comparison['wall_time_ratio'], 'wall time')} than the baseline; "
            f"its test accuracy is <span class='{css}'>{diff:+.2f} points</span> against "
            "the baseline's.</p>"
        )
    return table


def _ratio_phrase(baseline_over_one_cycle: float, what: str) -> str:
    """'<b>4.00× fewer epochs</b>' or '<b>1.30× more wall time</b>'."""
    if baseline_over_one_cycle >= 1:
        word = "fewer" if what == "epochs" else "less"
        return f"<b>{baseline_over_one_cycle:.2f}× {word} {what}</b>"
    return f"<b>{1 / baseline_over_one_cycle:.2f}× more {what}</b>"


def write_report(run_dir: str | Path) -> Path:
    """Build ``report.html`` from the files of ``run_dir`` (each section only if its data is
    there) and save the figures under ``figures/``."""
    run_dir = Path(run_dir)
    config = _read_optional_json(run_dir / "config.json") or {}
    environment = _read_optional_json(run_dir / "environment.json") or {}
    data = _read_optional_json(run_dir / "data.json") or {}
    bounds = _read_optional_json(run_dir / "bounds.json")
    metrics = _read_optional_json(run_dir / "metrics.json") or {}
    tuning = _read_optional_json(run_dir / "tuning.json")
    figures = run_dir / "figures"
    sections: list[str] = []

    title = f"superconverge run: {config.get('model', '?')} on {config.get('dataset', '?')}"
    sections.append(f"<h1>{html.escape(title)}</h1>")
    sections.append(
        f"<p class='muted'>Keras backend <code>{html.escape(str(environment.get('keras_backend')))}"
        f"</code> · {len(data) and data.get('train')} training / {data.get('val')} validation / "
        f"{data.get('test')} test examples · seed {config.get('seed')}</p>"
    )
    if metrics:
        sections.append("<h2>Summary</h2>" + _summary_table(metrics))

    if tuning:
        sections.append("<h2>Weight decay and batch-norm momentum</h2>")
        sections.append(f"<p class='reason'>{html.escape(str(tuning.get('reason', '')))}</p>")
        for image in sorted((run_dir / "tuning").glob("*.png")) if (run_dir / "tuning").exists() \
                else []:
            sections.append(_embed(image))

    if bounds:
        sections.append("<h2>Learning-rate bounds</h2>")
        sections.append(
            f"<p>max LR <b>{bounds['max_lr']:.3g}</b>, min LR <b>{bounds['min_lr']:.3g}</b> "
            f"(method <code>{html.escape(str(bounds['method']))}</code>, confidence "
            f"{float(bounds['confidence']):.2f}); batch-norm momentum "
            f"{_fmt(bounds.get('bn_momentum'))}, weight decay {_fmt(bounds.get('weight_decay'))}"
            "</p>"
        )
        sections.append(f"<p class='reason'>{html.escape(str(bounds['reason']))}</p>")
        if (run_dir / "range_test.png").exists():
            sections.append(_embed(run_dir / "range_test.png"))

    schedule_config = _read_optional_json(run_dir / "one_cycle_schedule.json")
    if schedule_config and (run_dir / "one_cycle_applied.csv").exists():
        from superconverge.schedules import OneCycleSchedule

        rows = read_csv(run_dir / "one_cycle_applied.csv")
        applied = {k: [r[k] for r in rows] for k in ("step", "learning_rate", "momentum")}
        figure = plot_schedule(OneCycleSchedule.from_config(schedule_config), applied=applied)
        save_figure(figure, figures / "one_cycle_schedule.png")
        sections.append("<h2>LR and momentum applied</h2>" + _embed(figure))
        sections.append(
            "<p class='muted'>Line: the policy; dots: the values recorded at each optimizer "
            "step during training (including steps replayed after a resume).</p>"
        )

    histories = {
        name: read_csv(run_dir / f"{name}_history.csv")
        for name in ("one_cycle", "baseline")
        if (run_dir / f"{name}_history.csv").exists()
    }
    if histories:
        figure = _curves_figure(histories)
        save_figure(figure, figures / "training_curves.png")
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
    return atomic_write_text(run_dir / "report.html", page)
