"""The Sweeps page's reading of one study, through Optuna's public API: its trials (state,
value, parameters, MLflow run) and Optuna's plotly plots of it, read-only."""

from collections.abc import Callable

import optuna
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from blueprint.sweeps.contract import RUN_ATTR

# Optuna draws the parallel coordinates in "Blues", whose low end is white on the plot's light
# grey: low-value trials vanish. This scale's colours all stand out on white and grey.
LINE_SCALE = "Bluered"
PLOTS: dict[str, Callable[[optuna.Study], go.Figure]] = {
    "optimization history": optuna.visualization.plot_optimization_history,
    "parallel coordinates": optuna.visualization.plot_parallel_coordinate,
    "parameter importances": optuna.visualization.plot_param_importances,
}


def load(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def trial_rows(study: optuna.Study) -> list[dict[str, object]]:
    """One row per trial: number, state, value, parameters, and its MLflow run's id."""
    return [
        {
            "trial": trial.number,
            "state": trial.state.name,
            "value": trial.value if len(study.directions) == 1 else trial.values,
            "params": " ".join(f"{key}={value}" for key, value in trial.params.items()),
            "run": trial.user_attrs.get(RUN_ATTR, ""),
        }
        for trial in study.get_trials(deepcopy=False)
    ]


def plots(study: optuna.Study) -> dict[str, go.Figure | str]:
    """Each plot, or why it cannot be drawn yet (e.g. importances need two finished trials)."""
    if len(study.directions) > 1:
        return dict.fromkeys(PLOTS, "a study with several objectives: see make dashboard")
    figures: dict[str, go.Figure | str] = {}
    for title, plot in PLOTS.items():
        try:
            figure = plot(study)
        except (ValueError, RuntimeError) as err:
            figures[title] = str(err)
            continue
        if not figure.data:  # Optuna warns and draws nothing: no finished trial yet
            figures[title] = "no finished trial yet"
            continue
        figures[title] = recoloured(figure) if title == "parallel coordinates" else figure
    return figures


def recoloured(figure: go.Figure) -> go.Figure:
    """The parallel coordinates in LINE_SCALE: each trial's line takes the colour of its
    objective value (its first coordinate, on the objective's axis from 0 to 1), and the colour
    bar follows."""
    scale = next(t.marker for t in figure.data if t.mode == "markers")  # the colour bar
    for line in (t for t in figure.data if t.mode == "lines"):
        position = 1.0 - line.y[0] if scale.reversescale else line.y[0]
        line.update(line_color=sample_colorscale(LINE_SCALE, [position])[0], opacity=0.9)
    scale.update(colorscale=LINE_SCALE)
    return figure
