"""Small helpers shared by the CLI files."""

from __future__ import annotations

from pathlib import Path

import typer

PROJECT_OPT = typer.Option(..., "--project", "-p", help="Project directory (holding project.toml).")
MODEL_OPT = typer.Option(
    None, "--model", "-m", help="Model version (v1, v2, ...); default: the production version, else the newest."
)


JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON (for scripts and CI).")


def print_json(data) -> None:
    """JSON on stdout, alone: progress bars and notes go to stderr."""
    import json
    import sys

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def quiet_libraries() -> None:
    """Silence TensorFlow's C++ log lines (cuDNN/cuFFT registration, CPU features) and the Python
    warnings of Keras/QKeras that precede every train, convert and validate. Must run before TensorFlow
    is imported: its C++ logger reads TF_CPP_MIN_LOG_LEVEL once, at import."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "h5py", "conifer", "hls4ml"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(keras|qkeras|tensorflow)")
    import sys

    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport:
    """TensorFlow 2.14 writes its cuDNN/cuFFT/cuBLAS registration errors to file descriptor 2 while it
    is imported, whatever TF_CPP_MIN_LOG_LEVEL says: hide fd 2 for that import only. Python exceptions
    from the import still propagate; only the C++ log lines are lost."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        import importlib.util
        import sys

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                with _fd2_silenced():
                    run(module)

            spec.loader.exec_module = exec_module
        return spec


def _fd2_silenced():
    import contextlib
    import os
    import sys

    @contextlib.contextmanager
    def cm():
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)

    return cm()


def console(stderr: bool = False):
    import os
    import sys

    from rich.console import Console

    # Rich falls back to 80 columns when piped, which wraps tables in CI logs; logs are wider than that.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 140
    return Console(stderr=stderr, highlight=False, width=width)


def load(project: Path):
    from l1ml.project import load_project

    return load_project(project)


def pick_model(proj, model: str | None, quiet: bool = False) -> str:
    """--model, else the production version when one exists, else the newest; says which (on stderr, so
    --json output stays JSON)."""
    from l1ml.lifecycle.stages import current

    if model:
        return proj.model_dir(model).name
    prod = current(proj)
    version = prod if prod and (proj.models_dir / prod).is_dir() else proj.model_dir(None).name
    if not quiet:
        why = "production" if version == prod else "newest; no production version"
        console(stderr=True).print(f"[dim]model {version} ({why})[/]")
    return version


class RichReporter:
    """Progress bars for l1ml.progress reporters: one bar per named task, spinners when total is None."""

    def __init__(self, progress):
        self._p = progress
        self._ids: dict[str, int] = {}

    def task(self, name: str, total: float | None = None) -> None:
        if name in self._ids:
            self._p.update(self._ids[name], total=total, completed=0)
        else:
            self._ids[name] = self._p.add_task(name, total=total)

    def advance(self, name: str, amount: float = 1) -> None:
        if name not in self._ids:
            self.task(name)
        self._p.advance(self._ids[name], amount)
        t = self._p.tasks[self._ids[name]]
        if t.total is None:
            self._p.update(self._ids[name], total=t.completed, completed=t.completed)


def progress_bars():
    """A context manager yielding a reporter; bars go to stderr so --json output stays clean."""
    from contextlib import contextmanager

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    @contextmanager
    def cm():
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(stderr=True),
            transient=False,
        ) as p:
            yield RichReporter(p)

    return cm()


def run_app(app, prog_name: str | None = None) -> None:
    """Run a Typer app as a command: user errors become one red line and exit code 2, never a traceback.

    Typer's standalone mode already turns usage errors into a usage message (exit 2); what escapes it is
    ours to render.
    """
    import sys

    from l1ml.errors import L1mlError

    try:
        app(prog_name=prog_name)
    except L1mlError as exc:
        from rich.markup import escape

        # escape(): messages quote TOML sections like "[model]", which rich would read as markup.
        console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
