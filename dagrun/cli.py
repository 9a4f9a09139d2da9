"""The `dagrun` command: a thin click layer over the library; it alone turns errors into exit codes."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar, cast

import click

from dagrun import __version__
from dagrun.errors import DagrunError, UsageError
from dagrun.execution.executors import EXECUTORS
from dagrun.ui.progress import PROGRESS, make_reporter

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = """\b
Exit codes:
  0    every stage succeeded (or nothing was left to do)
  1    a stage failed, or was blocked by a failure upstream
  2    bad input: stages file, jobs module, state file or usage
  3    another dagrun is using the same state file
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP (dagrun
       saves the state, then ends by the signal itself, so calling scripts stop too)
"""

STAGES_ARG = click.argument(
    "stages_file",
    metavar="[STAGES_FILE]",
    required=False,
    default="stages.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
)
STATE_OPT = click.option(
    "--state",
    "state_path",
    metavar="PATH",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The state file. Default: state.yml beside the stages file.",
)


def _complete_stages(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """Shell completion of stage names, from the stages file already on the command line (or
    stages.yaml); nothing at all when it cannot be read."""
    # An option still waiting for its value (`--force <TAB>`) keeps click from parsing the stages
    # file argument; the words the shell passes still have it.
    words = os.environ.get("COMP_WORDS", "").split()
    candidates = [ctx.params.get("stages_file") or Path("stages.yaml")]
    candidates += [Path(w) for w in words[2:] if w.endswith((".yaml", ".yml"))]
    try:
        from dagrun.stagesfile.reader import load_pipeline

        names = load_pipeline(next(p for p in reversed(candidates) if p.is_file())).names
    except Exception:  # no stages file yet, or a broken one: complete nothing rather than fail
        return []
    return [name for name in names if name.startswith(incomplete)]  # click makes the items


FORCE_OPT = click.option(
    "--force",
    "-f",
    "force",
    metavar="STAGE",
    multiple=True,
    shell_complete=_complete_stages,
    help="Run STAGE and everything downstream of it even if they succeeded (repeatable).",
)
RERUN_CHANGED_OPT = click.option(
    "--rerun-changed",
    is_flag=True,
    help="Also run the stages that succeeded but whose function's code changed since, and their downstream.",
)
SET_OPT = click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="STAGE.PARAM=VALUE",
    help="Give a stage's param another value for this run (repeatable; the value is read as YAML: "
    "0.7 is a number). It is recorded like any param, so a later run without it sees a change.",
)
JOBS_TO_COMPARE_OPT = click.option(
    "--jobs",
    "-J",
    "jobs_ref",
    metavar="MODULE",
    help="The jobs module, as for run: with it, stages whose code changed since they succeeded are shown.",
)
WORKERS_OPT = click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Stages run at once. Default: the number of CPUs ({os.cpu_count() or 1} here).",
)


def _option_flag(executor: str, option: str) -> str:
    return f"--{executor}-{option}".replace("_", "-")


def _executor_options(command: F) -> F:
    """Each executor's own options, from the registry: `--dask-address` (env DAGRUN_DASK_ADDRESS)."""
    for executor, entry in reversed(list(EXECUTORS.items())):
        for option, text in reversed(list(entry.options.items())):
            env = f"DAGRUN_{executor}_{option}".upper()
            command = click.option(
                _option_flag(executor, option),
                f"{executor}_{option}",
                metavar=option.upper(),
                envvar=env,
                help=f"{text} With --executor {executor} (env {env}).",
            )(command)
    return command


def _options_of(executor: str, given: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    """The chosen executor's options, by their names in the registry; another executor's option on
    the command line is a mistake (from the environment, it is ignored)."""
    ctx = click.get_current_context()
    mine: Dict[str, Optional[str]] = {}
    for name, entry in EXECUTORS.items():
        for option in entry.options:
            value = given.get(f"{name}_{option}")
            if name == executor:
                mine[option] = value
            elif value and ctx.get_parameter_source(f"{name}_{option}") is click.core.ParameterSource.COMMANDLINE:
                raise UsageError(
                    f"{_option_flag(name, option)} is for --executor {name}", hint=f"add --executor {name}"
                )
    return mine


def _file_and_names(first: Path, names: Tuple[str, ...]) -> Tuple[Path, Tuple[str, ...]]:
    """The same rule for every command: the first argument is the stages file when it looks like one
    (it ends in .yaml or .yml, or is a file); otherwise it is the first stage name, and the stages
    file is stages.yaml. So `dagrun reset Coverage` and `dagrun logs Coverage` mean the same stage."""
    if first.suffix in (".yaml", ".yml") or first.is_file():
        return first, names
    return Path("stages.yaml"), (str(first), *names)


def _user_errors(command: F) -> F:
    """Print a DagrunError as `dagrun: error: ...` on stderr and exit with its code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DagrunError as e:
            click.echo(f"dagrun: error: {e.message}", err=True)
            if e.hint:
                click.echo(f"  hint: {e.hint}", err=True)
            raise click.exceptions.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            click.echo("dagrun: interrupted", err=True)
            raise click.exceptions.Exit(130) from None

    return cast(F, wrapper)


class _Commands(click.Group):
    """click's group, with usage errors in dagrun's own form: `dagrun: error: ...` and a hint, exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx is not None else "dagrun"
            click.echo(f"dagrun: error: {e.format_message()}", err=True)
            click.echo(f"  hint: `{command} --help` shows the usage", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"dagrun: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("dagrun: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, "--version", "-V", prog_name="dagrun")
def cli() -> None:
    """Run the stages of a pipeline in dependency order, in parallel, and never redo what already worked.

    \b
      dagrun run stages.yaml --jobs foo_jobs   run what has not succeeded yet
      dagrun plan stages.yaml                  show the order, in parallel batches, with state
      dagrun status stages.yaml                each stage's state, last run and last error
      dagrun logs stages.yaml Test             what a stage printed in its latest run
      dagrun reset stages.yaml                 clear the state
      dagrun mark stages.yaml Lint --as success   record work done by hand

    STAGES_FILE defaults to stages.yaml in the current folder.
    """


@cli.command(epilog=EXIT_CODES)
@STAGES_ARG
@click.argument("targets", nargs=-1, metavar="[TARGETS]...", shell_complete=_complete_stages)
@click.option(
    "--jobs",
    "-J",
    "jobs_ref",
    metavar="MODULE",
    required=True,
    help="Module with one function per stage: a module name importable from the current folder or "
    "the stages file's folder, or a path to a .py file.",
)
@STATE_OPT
@WORKERS_OPT
@click.option("--fail-fast", is_flag=True, help="Start nothing new after the first failure.")
@FORCE_OPT
@RERUN_CHANGED_OPT
@SET_OPT
@click.option("--dry-run", "-n", is_flag=True, help="Print what would run, and run nothing.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Fail a stage that runs longer than this. Its worker process is killed; a thread cannot be "
    "stopped and is left to finish in the background.",
)
@click.option(
    "--executor",
    "-x",
    type=click.Choice(list(EXECUTORS)),
    default="thread",
    show_default=True,
    help="Where stages run: " + "; ".join(f"{name}: {entry.help}" for name, entry in EXECUTORS.items()) + ".",
)
@_executor_options
@click.option(
    "--show-output",
    is_flag=True,
    help="Print what stages print on the console, as it comes, instead of into their log files "
    "(.dagrun/logs beside the state file; see `dagrun logs`).",
)
@click.option(
    "--events",
    metavar="FILE",
    help="Also write every event as a line of JSON to FILE (- for stdout, and the progress goes to "
    "stderr), for CI systems and tools. Format in docs/cli.md.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", *PROGRESS]),
    default="auto",
    show_default=True,
    help="; ".join(f"{name}: {entry.help}" for name, entry in PROGRESS.items())
    + ". auto: live on a terminal, plain otherwise.",
)
@_user_errors
def run(
    stages_file: Path,
    targets: Tuple[str, ...],
    jobs_ref: str,
    state_path: Optional[Path],
    workers: Optional[int],
    fail_fast: bool,
    force: Tuple[str, ...],
    rerun_changed: bool,
    assignments: Tuple[str, ...],
    dry_run: bool,
    timeout: Optional[float],
    executor: str,
    show_output: bool,
    events: Optional[str],
    progress: str,
    **executor_options: Optional[str],
) -> None:
    """Run every stage that has not succeeded yet, each as soon as its dependencies have.

    With TARGETS (stage names, after the stages file), run only those and the stages they need.

    A failed stage's descendants do not run; independent stages go on (unless --fail-fast).
    Ctrl-C or SIGTERM stops at once: running stages are recorded as not run, and the next
    run starts them again.
    """
    import dagrun.api as api
    from dagrun.jobs.loading import load_jobs
    from dagrun.stagesfile.reader import load_pipeline, set_params

    options = _options_of(executor, executor_options)
    stages_file, targets = _file_and_names(stages_file, targets)
    pipeline = set_params(load_pipeline(stages_file), assignments)
    targets = pipeline.check_names(targets)
    jobs = load_jobs(jobs_ref, pipeline, stages=pipeline.upstream(targets) if targets else None)
    path = state_path or api.default_state_path(pipeline)
    if dry_run:
        from dagrun.ui.text import plan_lines

        planned = api.plan(pipeline, path, targets=targets, force=force, jobs=jobs, rerun_changed=rerun_changed)
        lines = plan_lines(planned, str(path))
        click.echo("\n".join(["dry run: nothing was run, nothing was written", *lines]))
        return
    from dagrun.execution.children import adopt_orphans

    adopt_orphans()  # this process runs one pipeline: what its stages leave behind stays findable
    reporter = _reporter(progress, str(path), events)
    try:
        settings = api.RunOptions(
            state_path=path,
            workers=workers,
            executor=executor,
            executor_options=options,
            fail_fast=fail_fast,
            timeout=timeout,
            targets=targets,
            force=force,
            rerun_changed=rerun_changed,
            logs=not show_output,
        )
        with _objects_set_aside():
            result = api.run(pipeline, jobs, settings, reporter=reporter)
    finally:
        reporter.close()  # restore the terminal whatever happened
        _tell_lost_outputs()
    raise click.exceptions.Exit(result.exit_code)


@contextlib.contextmanager
def _objects_set_aside() -> Iterator[None]:
    """Keep the garbage collector from walking, at every full collection during the run, the
    objects that live through it: the pipeline and the jobs (some hundred thousand at 100,000
    stages). gc.freeze() sets aside what exists now; objects made later are collected as usual.
    Here, not in the library: gc.unfreeze() thaws whatever anyone else froze, and this process
    runs one pipeline and exits. Its gain is measured in docs/performance.md."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _reporter(progress: str, state_path: str, events: Optional[str]) -> Any:
    """The progress shown to people, and with --events the stream for programs. With `--events -`
    the stream takes stdout and the progress goes to stderr. Both write to descriptors of their own,
    which stay the terminal's while the run captures descriptors 1 and 2."""
    from dagrun.execution.capture import SafeStream, own_stream

    out: Any = SafeStream(own_stream(sys.stderr if events == "-" else sys.stdout))
    _outputs.append(out)
    if progress == "auto":
        term = os.environ.get("TERM", "")
        progress = "live" if out.isatty() and term not in ("dumb", "") else "plain"
    shown = make_reporter(progress, out, state_path)
    if not events:
        return shown
    from dagrun.core.events import Fanout
    from dagrun.ui.jsonlines import EventStream

    if events == "-":
        stream = SafeStream(own_stream(sys.stdout))
        _outputs.append(stream)
        return Fanout(shown, EventStream(stream))  # type: ignore[arg-type]
    try:
        stream = SafeStream(open(events, "w", encoding="utf-8"))  # noqa: SIM115 - closed by the Fanout
    except OSError as e:
        from dagrun.errors import UsageError

        raise UsageError(f"cannot write the events file {events}: {e.strerror}") from None
    _outputs.append(stream)
    return Fanout(shown, EventStream(stream), closing=stream)  # type: ignore[arg-type]


_outputs: List[Any] = []  # the run's progress and event streams, whose failure is told at the end


def _tell_lost_outputs() -> None:
    """The run went on without an output that failed: say so once, where it can still be read."""
    for out in _outputs:
        if out.error is not None:
            what = "the events file" if out is not _outputs[0] else "the progress output"
            with contextlib.suppress(OSError, AttributeError):  # stderr too may be gone, or None
                sys.stderr.write(
                    f"dagrun: note: {what} could not be written ({out.error.strerror or out.error}); "
                    "the run went on without it, and its state is saved\n"
                )
                sys.stderr.flush()
    _outputs.clear()


def _jobs_to_compare(jobs_ref: Optional[str], pipeline: Any, rerun_changed: bool) -> Any:
    if jobs_ref is None:
        if rerun_changed:
            from dagrun.errors import UsageError

            raise UsageError("--rerun-changed needs --jobs, to compare the code", hint="add --jobs MODULE")
        return None
    from dagrun.jobs.loading import load_jobs

    return load_jobs(jobs_ref, pipeline)


@cli.command()
@STAGES_ARG
@click.argument("targets", nargs=-1, metavar="[TARGETS]...", shell_complete=_complete_stages)
@STATE_OPT
@click.option(
    "--format",
    "-o",
    "output_format",
    type=click.Choice(["text", "json", "dot", "mermaid"]),
    default="text",
    show_default=True,
    help="text: batches with each stage's state and why it will or will not run; json: for programs "
    "(schema in docs/cli.md); dot: Graphviz; mermaid: a flowchart GitHub renders.",
)
@FORCE_OPT
@JOBS_TO_COMPARE_OPT
@RERUN_CHANGED_OPT
@SET_OPT
@WORKERS_OPT
@_user_errors
def plan(
    stages_file: Path,
    targets: Tuple[str, ...],
    state_path: Optional[Path],
    output_format: str,
    force: Tuple[str, ...],
    jobs_ref: Optional[str],
    rerun_changed: bool,
    assignments: Tuple[str, ...],
    workers: Optional[int],
) -> None:
    """Show the order stages run in, in batches that can run in parallel, and which are done.

    With TARGETS, as for run: only they and what they need. Validates the stages file exactly like
    `run`; writes nothing.
    """
    import dagrun.api as api
    from dagrun.stagesfile.reader import load_pipeline, set_params

    stages_file, targets = _file_and_names(stages_file, targets)
    pipeline = set_params(load_pipeline(stages_file), assignments)
    path = state_path or api.default_state_path(pipeline)
    jobs = _jobs_to_compare(jobs_ref, pipeline, rerun_changed)
    with _objects_set_aside():  # the records of 10,000 declaring stages are many objects too
        the_plan = api.plan(pipeline, path, targets=targets, force=force, jobs=jobs, rerun_changed=rerun_changed)
    if output_format == "text":
        from dagrun.core.plan import default_workers
        from dagrun.ui.text import plan_lines

        click.echo("\n".join(plan_lines(the_plan, str(path), workers or default_workers())))
        return
    from dagrun.ui import export

    if output_format == "json":
        click.echo(export.plan_json(the_plan, str(path)))
    elif output_format == "dot":
        click.echo(export.plan_dot(the_plan))
    else:
        click.echo(export.plan_mermaid(the_plan))


@cli.command()
@STAGES_ARG
@STATE_OPT
@click.option(
    "--format",
    "-o",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a table; json: for programs (schema in docs/cli.md).",
)
@click.option("--json", "as_json", is_flag=True, hidden=True, help="The same as --format json (older spelling).")
@JOBS_TO_COMPARE_OPT
@_user_errors
def status(
    stages_file: Path, state_path: Optional[Path], output_format: str, as_json: bool, jobs_ref: Optional[str]
) -> None:
    """Show every stage's state, how long it last took, when it last finished, how many times it
    has run, and the last line of its latest error, from the run history."""
    import dagrun.api as api
    from dagrun.stagesfile.reader import load_pipeline

    pipeline = load_pipeline(stages_file)
    path = state_path or api.default_state_path(pipeline)
    reports = api.status(pipeline, path, _jobs_to_compare(jobs_ref, pipeline, False))
    if as_json or output_format == "json":
        from dagrun.ui.export import status_json

        click.echo(status_json(reports, str(path)))
    else:
        from dagrun.ui.text import status_lines

        click.echo("\n".join(status_lines(reports, str(path))))


@cli.command()
@click.argument(
    "stages_file",
    metavar="[STAGES_FILE]",
    required=False,
    default="stages.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
    shell_complete=_complete_stages,
)
@click.argument("stage", metavar="STAGE", required=False, shell_complete=_complete_stages)
@STATE_OPT
@_user_errors
def logs(stages_file: Path, stage: Optional[str], state_path: Optional[Path]) -> None:
    """Print what STAGE printed in its latest run (its stdout, stderr and logging records).

    `dagrun logs Coverage` reads stages.yaml; `dagrun logs other.yaml Coverage` another file.
    """
    import dagrun.api as api
    from dagrun.errors import UsageError
    from dagrun.stagesfile.reader import load_pipeline
    from dagrun.store.logs import log_path
    from dagrun.store.paths import StatePaths

    stages_file, names = _file_and_names(stages_file, (stage,) if stage else ())
    stage = names[0] if names else None
    if stage is None:
        raise UsageError("name the stage whose log to print", hint="dagrun logs Test, or dagrun logs stages.yaml Test")
    pipeline = load_pipeline(stages_file)
    (name,) = pipeline.check_names([stage])
    path = log_path(StatePaths(api.state_file(pipeline, state_path)).logs, name, pipeline.names)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for chunk in iter(lambda: f.read(1 << 16), ""):
                click.echo(chunk, nl=False)
    except FileNotFoundError:
        raise UsageError(
            f"{name} has no log: it printed nothing in its latest run, or has not run with logs kept ({path})"
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


@cli.command()
@STAGES_ARG
@click.argument("stages", nargs=-1, metavar="[STAGES]...", shell_complete=_complete_stages)
@STATE_OPT
@click.option("--only", is_flag=True, help="Clear just the named stages, not what is downstream of them.")
@click.option(
    "--failed",
    is_flag=True,
    help="Clear only FAILED stages: every one, or with STAGES, the failed ones among what they would clear.",
)
@_user_errors
def reset(stages_file: Path, stages: Tuple[str, ...], state_path: Optional[Path], only: bool, failed: bool) -> None:
    """Clear stages back to null, so the next run runs them again.

    With no STAGES, clear every stage. With STAGES (after the stages file), clear them and
    everything downstream of them.
    """
    import dagrun.api as api
    from dagrun.core.status import StageStatus
    from dagrun.stagesfile.reader import load_pipeline
    from dagrun.ui.text import plural

    if only and not stages:
        from dagrun.errors import UsageError

        raise UsageError("--only needs stage names", hint="dagrun reset stages.yaml STAGE --only")
    stages_file, stages = _file_and_names(stages_file, stages)
    pipeline = load_pipeline(stages_file)
    path = state_path or api.default_state_path(pipeline)
    before = api.reset(pipeline, path, stages=stages, only=only, failed=failed)
    if before is None:
        click.echo(f"{path}: cleared (the previous state file was missing or unreadable)")
        return
    cleared = {s: [n for n, v in before.items() if v is s] for s in StageStatus if s is not StageStatus.PENDING}
    parts = [f"{plural(len(names), 'stage')} {s.text} ({', '.join(names)})" for s, names in cleared.items() if names]
    if parts:
        click.echo(f"{path}: cleared " + "; ".join(parts))
    else:
        click.echo(f"{path}: nothing to clear; no such stage had run")


@cli.command()
@STAGES_ARG
@STATE_OPT
@click.option(
    "--output",
    "-o",
    "output",
    metavar="FILE",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the page.",
)
@click.option(
    "--run",
    "run_number",
    type=int,
    metavar="N",
    help="Run number N of the history (the page names the others); -1 the latest, -2 the one before. "
    "Default: the latest.",
)
@click.option("--open", "open_it", is_flag=True, help="Open the page in a web browser.")
@_user_errors
def report(
    stages_file: Path, state_path: Optional[Path], output: Path, run_number: Optional[int], open_it: bool
) -> None:
    """Write one run as a self-contained HTML page: a timeline per worker slot with the critical
    path, the graph, a sortable table of stages and each stage's durations over the last runs.

    It needs no network: mail it, keep it as a CI artifact, open it from the disk.
    """
    import dagrun.api as api
    from dagrun.errors import UsageError
    from dagrun.stagesfile.reader import load_pipeline

    pipeline = load_pipeline(stages_file)
    page = api.report(pipeline, state_path, run_number)
    try:
        output.write_text(page, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write the report to {output}: {e.strerror}") from None
    click.echo(f"wrote {output}")
    if open_it:
        import webbrowser

        if not webbrowser.open(output.resolve().as_uri()):
            click.echo(f"no web browser was found here: open {output} in one", err=True)


@cli.command()
@STAGES_ARG
@click.argument("stages", nargs=-1, metavar="STAGES...", shell_complete=_complete_stages)
@STATE_OPT
@click.option(
    "--as",
    "as_status",
    type=click.Choice(["success", "failed"], case_sensitive=False),
    metavar="success|failed",
    help="The status to record.",
)
@click.option("--ignore-needs", is_flag=True, help="Also when a stage's dependencies have not succeeded.")
# The spellings before --as and --ignore-needs, kept for scripts; hidden, since --failed selects
# stages in `reset` and --force names stages in `run`.
@click.option("--success", "success", is_flag=True, hidden=True)
@click.option("--failed", "failed", is_flag=True, hidden=True)
@click.option("--force", "force", is_flag=True, hidden=True)
@_user_errors
def mark(
    stages_file: Path,
    stages: Tuple[str, ...],
    state_path: Optional[Path],
    as_status: Optional[str],
    ignore_needs: bool,
    success: bool,
    failed: bool,
    force: bool,
) -> None:
    """Record stages as SUCCESS or FAILED by hand, for work done outside dagrun.

    A stage whose dependencies are not SUCCESS is refused unless --ignore-needs; stages marked
    SUCCESS together count for each other.
    """
    import dagrun.api as api
    from dagrun.core.status import StageStatus
    from dagrun.errors import UsageError
    from dagrun.stagesfile.reader import load_pipeline

    example = "dagrun mark stages.yaml Lint --as success"
    stages_file, stages = _file_and_names(stages_file, stages)
    chosen = {s.upper() for s in (as_status, "success" if success else None, "failed" if failed else None) if s}
    if len(chosen) != 1:
        what = "one status, not two" if chosen else "--as success or --as failed"
        raise UsageError(f"say what to record: {what}", hint=example)
    (status,) = chosen
    if not stages:
        raise UsageError("name the stages to mark, after the stages file", hint=example)
    pipeline = load_pipeline(stages_file)
    path = state_path or api.default_state_path(pipeline)
    new = StageStatus.from_text(status)
    before = api.mark(pipeline, stages, new, path, ignore_needs=ignore_needs or force)
    changes = ", ".join(f"{name} ({old.text} -> {new.text})" for name, old in before.items())
    click.echo(f"{path}: marked {changes}")


SIGNAL_EXITS = {130: "SIGINT", 143: "SIGTERM", 129: "SIGHUP"}


def main() -> None:
    try:
        cli(prog_name="dagrun")
    except BrokenPipeError:  # `dagrun plan | head`: the reader has what it wanted
        # Python would try to flush stdout once more at exit and complain: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
        if code in SIGNAL_EXITS:  # the state is saved: now end by the signal, for the caller to see
            import signal

            from dagrun.execution.signals import die_by

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, AttributeError):  # closed, or None: nothing to keep
                    stream.flush()
            die_by(getattr(signal, SIGNAL_EXITS[code]))
        _exit_now_if_stage_threads_linger(code)
        raise


def _exit_now_if_stage_threads_linger(code: int) -> None:
    """Python waits for every non-daemon thread before it exits; a stage that started one and
    left it running would keep dagrun alive after the state is saved. Say so, and exit."""
    lingering = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if lingering:
        from dagrun.ui.text import plural

        click.echo(
            f"dagrun: not waiting for {plural(len(lingering), 'thread')} that stages started and left "
            f"running ({', '.join(lingering[:5])})",
            err=True,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
