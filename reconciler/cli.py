"""The `reconciler` command: parse arguments, call the library, show results, set exit codes.

No logic lives here. Exit codes (DESIGN.md §7): 0 success, 1 error; click's own usage
errors (an unknown option, a port out of range) exit 2, as the README documents.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from reconciler import __version__
from reconciler.durations import DurationError, parse_duration
from reconciler.emulator.embedded import DEFAULT_DB, move_clock
from reconciler.emulator.times import TimeFormatError, format_iso, parse_time
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.applying import Recovered, Result
    from reconciler.inventory import Location, LockInfo
    from reconciler.manifests import ManifestSet, Problem
    from reconciler.planning import Plan


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log each API call (method, path, status, latency, retries) to stderr."
    " Join links, participant ids and credentials are never logged.",
)
def main(verbose: int) -> None:
    """Plan and apply a clinic's video-consultation schedule, kept as YAML in git."""
    if verbose:
        _log_to_stderr(logging.INFO)


def entry() -> None:
    """The `reconciler` command: one short process that builds large, acyclic data (every
    session desired, recorded and live). The cycle collector would walk it again and
    again, a third of a 10,000-session plan's time, to find next to nothing: what was
    imported is set aside for good, and a collection waits for 50,000 new objects."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    main()


def _log_to_stderr(level: int) -> None:
    # Only the project's own loggers: httpx's would print every URL in full.
    logger = logging.getLogger("reconciler")
    for old in [h for h in logger.handlers if h.get_name() == "reconciler-cli"]:
        logger.removeHandler(old)  # a second run in one process (tests) replaces the first
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("reconciler-cli")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def _show_problems(problems: Sequence[Problem]) -> NoReturn:
    from reconciler.render import validation

    *lines, summary = validation.text(None, problems)
    for line in lines:
        click.echo(f"error: {line}", err=True)
    click.echo(summary, err=True)
    sys.exit(1)


def _reporting_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Report the run's errors as `error: …` (every manifest problem with its position)
    and exit 1: what every command that reads a tree or an API does with them."""

    @functools.wraps(command)
    def run(*args: object, **options: object) -> None:
        from reconciler.manifests import ManifestError

        try:
            command(*args, **options)
        except ManifestError as error:
            _show_problems(error.problems)
        except ReconcilerError as error:
            _fail(str(error))

    return run


_URL_OPTIONS = (
    click.option(
        "--coviu-url", metavar="URL", help="Coviu base URL, including /v1 [env: COVIU_API_URL]."
    ),
    click.option("--auvious-url", metavar="URL", help="Auvious base URL [env: AUVIOUS_API_URL]."),
)


def _format_option(
    *choices: str, help: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """`--format` with `choices`, text first and the default."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help,
    )


def _selector_option(help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option("--selector", "-l", multiple=True, metavar="KEY=VALUE", help=help)


def _only_option(help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option("--only", multiple=True, metavar="KIND/NAME", help=help)


_MAX_CANCELS_OPTION = click.option(
    "--max-cancels",
    type=click.IntRange(0),
    metavar="N",
    help="The cancel budget: how many sessions and participants one apply may cancel"
    " [default: max_cancels in reconciler.yaml, else 10].",
)

_STATE_OPTION = click.option(
    "--state",
    metavar="FILE|URL",
    help="The inventory: a SQLite file or a postgresql:// URL [env: RECONCILER_STATE].",
)


def _url_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_URL_OPTIONS):
        command = option(command)
    return command


@main.command("ping")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@_url_options
@_reporting_errors
def ping_command(path: Path | None, coviu_url: str | None, auvious_url: str | None) -> None:
    """Check that both APIs answer and accept the credentials (PATH finds reconciler.yaml).

    Prints each target, its round trip and its clock; exits 1 if either fails.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import ping

    targets = engine.targets_for(
        [path] if path else [],
        flags=Urls(coviu=coviu_url, auvious=auvious_url),
        environ=os.environ,
    )
    result = engine.ping(targets)
    for line in ping.answered(targets, result.probes, local_time=result.local_time):
        click.echo(line)
    for line in ping.failed(targets, result.failures):
        click.echo(line, err=True)
    sys.exit(1 if result.failures else 0)


@main.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_format_option(
    "text", "json", "github", help="github prints ::error annotations for pull requests."
)
def validate_command(paths: tuple[Path, ...], output_format: str) -> None:
    """Check manifests and reconciler.yaml (default PATH: .); report every problem."""
    # Imported here: building the models takes ~0.15 s that the emulator commands skip.
    from reconciler.manifests import ManifestError, load
    from reconciler.manifests.cache import cache_folder
    from reconciler.render import validation

    loaded: ManifestSet | None = None
    problems: tuple[Problem, ...] = ()
    try:
        loaded = load(paths, cache=cache_folder(os.environ))
    except ManifestError as error:
        problems = error.problems
    if output_format == "json":
        click.echo(validation.as_json(loaded, problems))
    else:
        render = validation.github if output_format == "github" else validation.text
        for line in render(loaded, problems):
            click.echo(line)
    sys.exit(1 if problems else 0)


class _UsageErrorIsOne(click.Command):
    """A command whose usage errors exit 1, not click's 2: with --detailed-exitcode, 2
    must mean only "changes to apply", never a mistyped option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise _PlanUsageError(error.format_message(), error.ctx) from error


class _PlanUsageError(click.UsageError):
    exit_code = 1


@main.command("plan", cls=_UsageErrorIsOne)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_format_option(
    "text",
    "json",
    "markdown",
    help="json: the versioned plan document; markdown: a pull-request comment.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also save the plan as JSON to FILE, for `reconciler apply FILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 if there are changes to apply, 3 if anything is blocked or"
    " unreconcilable or the plan cancels more than the cancel budget (3 wins), 0 if"
    " nothing differs.",
)
@_selector_option(
    "Plan only manifests whose labels match (repeat, or comma-separate: all must match)."
    " Matching nothing is an error."
)
@_only_option(
    "Plan only this target, e.g. Session/NAME or SnapshotApproval/NAME (repeatable)."
    " A target that matches nothing is an error."
)
@_MAX_CANCELS_OPTION
@click.option(
    "--at",
    "at_text",
    metavar="TIME",
    help="Plan as if at TIME (ISO 8601 with offset, or RFC 1123) instead of the server's time.",
)
@_STATE_OPTION
@_url_options
@_reporting_errors
def plan_command(
    paths: tuple[Path, ...],
    output_format: str,
    out: Path | None,
    detailed_exitcode: bool,
    selector: tuple[str, ...],
    only: tuple[str, ...],
    max_cancels: int | None,
    at_text: str | None,
    state: str | None,
    coviu_url: str | None,
    auvious_url: str | None,
) -> None:
    """Show what would change to make the live APIs match the manifests (default PATH: .).

    Reads the manifests, the inventory and the live APIs; writes nothing but --out.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import plan as show

    planned = engine.plan(
        list(paths),
        flags=Urls(coviu=coviu_url, auvious=auvious_url),
        state=state,
        selection=engine.Selection(selector, only),
        at=_time_option("--at", at_text),
        environ=os.environ,
        max_cancels=max_cancels,
    )
    _tell_recovery(planned.recovered, planned.busy)
    where = planned.targets.describe()
    # The sealed document only when it is saved or shown: a text plan needs neither.
    wanted = out is not None or output_format == "json"
    document = show.as_json(planned.plan, targets=where, seal=planned.seal) if wanted else ""
    if out is not None:
        try:
            _write_atomically(out, document)
        except OSError as error:
            _fail(f"{out}: cannot save the plan: {error.strerror or error}")
    said = f"against {where['coviu']}, inventory {planned.state}"
    if output_format == "json":
        click.echo(document, nl=False)
    elif output_format == "markdown":
        budget = planned.max_cancels
        click.echo(show.as_markdown(planned.plan, where=said, budget=budget), nl=False)
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = show.as_text(planned.plan, where=said, colour=colour, budget=planned.max_cancels)
        click.echo(text, nl=False)
    code = planned.plan.exit_code(max_cancels=planned.max_cancels)
    sys.exit(code if detailed_exitcode else 0)


def _tell_recovery(recovered: Sequence[Recovered], busy: LockInfo | None) -> None:
    """On stderr: what an interrupted apply had done, or that an apply is running."""
    from reconciler.render import apply as view

    for found in recovered:
        click.echo(view.recovered_line(found), err=True)
    if busy is not None:
        click.echo(
            f"note: {busy.describe()} holds the inventory: changes it is making now are"
            " not in this plan",
            err=True,
        )


@main.command("apply", cls=_UsageErrorIsOne)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Apply without asking (needed when there is no terminal to ask on).",
)
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many API writes may run at once (the order of DESIGN.md §6 always holds).",
)
@_format_option(
    "text", "json", help="json: one document with every action's outcome, for machines."
)
@_selector_option(
    "Apply only manifests whose labels match (not with a saved plan: it has its own)."
    " Matching nothing is an error."
)
@_only_option("Apply only this target, e.g. Session/NAME (repeatable; not with a saved plan).")
@_MAX_CANCELS_OPTION
@click.option(
    "--allow-mass-cancel",
    is_flag=True,
    help="Apply even if the plan cancels more than the cancel budget.",
)
@_STATE_OPTION
@_url_options
@_reporting_errors
def apply_command(
    paths: tuple[Path, ...],
    auto_approve: bool,
    parallelism: int,
    output_format: str,
    selector: tuple[str, ...],
    only: tuple[str, ...],
    max_cancels: int | None,
    allow_mass_cancel: bool,
    state: str | None,
    coviu_url: str | None,
    auvious_url: str | None,
) -> None:
    """Make the live APIs match the manifests (default PATH: .), or apply a saved plan.

    With PATHs: plan, show the plan, ask for confirmation (--auto-approve skips it), then
    apply. With PLANFILE (a .json file from `plan --out`): apply exactly that plan, or
    refuse it if it expired or the manifests, inventory or targets changed since.
    Exits 1 if any action failed, and refuses (exit 1, nothing applied) a plan that cancels
    more sessions and participants than the cancel budget, unless --allow-mass-cancel.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import apply as view
    from reconciler.render import plan as show

    saved = [path for path in paths if path.suffix == ".json"]
    if saved and (len(paths) > 1 or selector or only):
        _fail("a saved plan is applied alone: give only PLANFILE (it names its own PATHs)")
    interactive = sys.stdin.isatty()
    if not saved and not auto_approve and output_format == "json":
        _fail(
            "--format json shows no plan to approve: pass --auto-approve, or apply a"
            " saved plan (`reconciler plan --out plan.json`, then `reconciler apply"
            " plan.json --format json`)"
        )
    if not saved and not auto_approve and not interactive:
        _fail(
            "refusing to apply without confirmation: there is no terminal to ask on. Review"
            " the plan (`reconciler plan`) and pass --auto-approve, or apply a saved plan"
            " (`reconciler plan --out plan.json`, then `reconciler apply plan.json`)"
        )
    text = output_format == "text"
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    progress = view.Progress(bar=text and sys.stderr.isatty(), colour=colour)

    def shown(plan: Plan) -> None:
        if text:
            click.echo(show.as_text(plan, where="about to apply", colour=colour), nl=False)
            # The budget is not shown here: over it, apply stops with an error instead.

    def confirmed(plan: Plan) -> bool:
        if auto_approve:
            return True
        click.echo("", err=True)
        count = len(plan.actions)
        these = "this action" if count == 1 else f"these {count} actions"
        answer = click.prompt(
            f"Apply {these}? Only 'yes' will be accepted",
            default="",
            show_default=False,
            err=True,
        )
        return bool(answer.strip() == "yes")

    def starting(plan: Plan) -> None:
        if text:
            progress.starting(plan)

    def ended(result: Result) -> None:
        if text:
            progress.result(result)

    def recovered(found: Recovered) -> None:
        click.echo(view.recovered_line(found), err=not text)

    hooks = engine.Hooks(
        show=shown, confirm=confirmed, starting=starting, result=ended, recovered=recovered
    )
    flags = Urls(coviu=coviu_url, auvious=auvious_url)
    budget = engine.Budget(max_cancels=max_cancels, allow_mass_cancel=allow_mass_cancel)
    with progress:
        if saved:
            applied = engine.apply_saved(
                saved[0],
                flags=flags,
                state=state,
                environ=os.environ,
                parallelism=parallelism,
                hooks=hooks,
                budget=budget,
            )
        else:
            applied = engine.apply(
                list(paths),
                flags=flags,
                state=state,
                selection=engine.Selection(selector, only),
                environ=os.environ,
                parallelism=parallelism,
                hooks=hooks,
                budget=budget,
            )
    if applied.took_over is not None:
        from reconciler.inventory import PostgresLocation

        gone = (
            "its connection to the inventory ended"
            if isinstance(applied.state, PostgresLocation)
            else "that process is no longer running"
        )
        click.echo(f"note: took over the lock of {applied.took_over.describe()}: {gone}", err=True)
    report = applied.report
    if text:
        click.echo("")
        for line in view.summary(report):
            click.echo(line)
    else:
        where = applied.targets.describe()
        click.echo(view.as_json(report, targets=dict(where)), nl=False)
    sys.exit(1 if report.declined else report.exit_code())


@main.command("drift", cls=_UsageErrorIsOne)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_format_option("text", "json", help="json: the versioned drift document.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 if anything changed out of band, 3 if any of it cannot be undone (a"
    " session cancelled, a participant removed, a session gone; 3 wins), 0 if nothing did.",
)
@_selector_option(
    "Check only sessions whose labels match (repeat, or comma-separate: all must match)."
    " Matching nothing is an error."
)
@_only_option("Check only this target, e.g. Session/NAME (repeatable).")
@_STATE_OPTION
@_url_options
@_reporting_errors
def drift_command(
    paths: tuple[Path, ...],
    output_format: str,
    detailed_exitcode: bool,
    selector: tuple[str, ...],
    only: tuple[str, ...],
    state: str | None,
    coviu_url: str | None,
    auvious_url: str | None,
) -> None:
    """Show what changed in the live API since reconciler last applied (default PATH: .).

    Compares each recorded session of these manifests with the spec last applied: fields,
    participants changed, removed or added by hand, sessions cancelled by hand or gone;
    says what the next plan does about each; lists live sessions no record names.
    Writes nothing.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import drift as show

    found = engine.drift(
        list(paths),
        flags=Urls(coviu=coviu_url, auvious=auvious_url),
        state=state,
        selection=engine.Selection(selector, only),
        environ=os.environ,
    )
    if found.pending:
        click.echo(
            f"note: an interrupted apply left {found.pending} write(s) unsettled in the"
            " inventory's journal; drift does not resolve them: run `reconciler plan` or"
            " `reconciler apply` first. Until then, what they did may show as drift.",
            err=True,
        )
    where = found.targets.describe()
    if output_format == "json":
        click.echo(show.as_json(found.drift, targets=dict(where)), nl=False)
    else:
        said = f"against {where['coviu']}, inventory {found.state}"
        click.echo(show.as_text(found.drift, where=said), nl=False)
    sys.exit(found.drift.exit_code() if detailed_exitcode else 0)


@main.command("links")
@click.argument("names", nargs=-1, metavar="[Session/NAME]...")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    help="A folder of the project: finds reconciler.yaml (and with it the inventory"
    " and the targets) [default: .].",
)
@_format_option(
    "text",
    "csv",
    "json",
    help="csv: a header row, then session, session_id, start_time, participant,"
    " display_name, role, entry_url (RFC 4180); json: a versioned document.",
)
@_selector_option("Only sessions whose last-applied labels match (all must match).")
@_STATE_OPTION
@_url_options
@_reporting_errors
def links_command(
    names: tuple[str, ...],
    path: Path | None,
    output_format: str,
    selector: tuple[str, ...],
    state: str | None,
    coviu_url: str | None,
    auvious_url: str | None,
) -> None:
    """Print the entry links of recorded participants, for sending invitations.

    For the sessions named (NAME or Session/NAME), or every recorded session that has not
    finished and was not cancelled: each participant the inventory records, with their
    entry URL. Participants added by hand are left out. Whoever holds a link joins the
    session as that participant: this is the only command that shows them, on stdout only.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import links as show

    found = engine.entry_links(
        list(names),
        path=path,
        flags=Urls(coviu=coviu_url, auvious=auvious_url),
        state=state,
        selector=selector,
        environ=os.environ,
    )
    for problem in found.left_out:
        click.echo(f"note: {problem}", err=True)
    click.echo(show.WARNING, err=True)
    if output_format == "csv":
        click.echo(show.as_csv(found.links), nl=False)
    elif output_format == "json":
        where = dict(found.targets.describe())
        click.echo(show.as_json(found.links, checked_at=found.checked_at, targets=where), nl=False)
    else:
        click.echo(show.as_text(found.links), nl=False)


def _time_option(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except TimeFormatError as error:
        _fail(f"{option} {text!r}: {error}")


@main.command("import")
@click.argument("arguments", nargs=-1, metavar="Session/NAME SESSION_ID [PATH...]")
@click.option(
    "--generate",
    "folder",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a manifest into DIR (inside the project) for every live session nobody"
    " manages, and adopt them; then the arguments are only PATHs.",
)
@_selector_option(
    "With --generate: put these labels on every manifest written, so that `plan"
    " --selector KEY=VALUE` selects exactly them (repeat, or comma-separate)."
)
@click.option(
    "--utc-offset",
    metavar="+HH:MM",
    help="With --generate: write times at this fixed offset (e.g. +11:00) [default: UTC, Z].",
)
@_STATE_OPTION
@_url_options
@_reporting_errors
def import_command(
    arguments: tuple[str, ...],
    folder: Path | None,
    selector: tuple[str, ...],
    utc_offset: str | None,
    state: str | None,
    coviu_url: str | None,
    auvious_url: str | None,
) -> None:
    """Adopt live sessions into the inventory: after losing it, or to start managing
    sessions made by hand. Nothing live is changed.

    `reconciler import Session/NAME SESSION_ID [PATH...]` records live session
    SESSION_ID as the manifest Session/NAME (or NAME) found under the PATHs (default
    .); each of its participants that exactly one live participant matches by display
    name and state is adopted, the others are added by the next plan. Finished and
    cancelled sessions are refused.

    `reconciler import --generate DIR [PATH...]` writes DIR/<name>.yaml for each live
    session that is not finished or cancelled and that no record names, and records
    them all (every file and record, or none): `reconciler plan` then shows no
    changes for them. --selector KEY=VALUE labels them, so that `reconciler plan
    --selector KEY=VALUE` selects exactly them.
    """
    from reconciler import engine
    from reconciler.clients import Urls
    from reconciler.render import imported as view

    flags = Urls(coviu=coviu_url, auvious=auvious_url)
    if folder is not None:
        generated = engine.generate_imports(
            folder,
            [Path(argument) for argument in arguments],
            flags=flags,
            state=state,
            selector=selector,
            utc_offset=utc_offset,
            environ=os.environ,
        )
        for line in view.generated(generated):
            click.echo(line)
        return
    if selector or utc_offset:
        _fail("--selector and --utc-offset go with --generate DIR")
    if len(arguments) < 2:
        _fail(
            "give Session/NAME and the live SESSION_ID to adopt (then any PATHs), or"
            " --generate DIR to write manifests for every live session nobody manages"
        )
    adopted = engine.import_session(
        arguments[0],
        arguments[1],
        [Path(argument) for argument in arguments[2:]],
        flags=flags,
        state=state,
        environ=os.environ,
    )
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    for line in view.imported(adopted, colour=colour):
        click.echo(line)


@main.command("schema")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Folder to write the schemas into.",
)
def schema_command(out: Path) -> None:
    """Write the JSON Schemas of manifests and reconciler.yaml, for editors."""
    from reconciler.manifests.schema import render, schemas

    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas().items():
            _write_atomically(out / name, render(schema))
            click.echo(str(out / name))
    except OSError as error:
        _fail(f"{out}: cannot write the schemas: {error.strerror or error}")


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` whole, or leave it as it was."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@main.group()
def state() -> None:
    """Look into and repair the inventory: which live session each manifest owns.

    PATH (default: .) only finds reconciler.yaml, which may name the inventory; --state
    and RECONCILER_STATE override it. The default is .reconciler/state.db; a
    postgresql:// URL names a shared inventory in a PostgreSQL schema.
    """


def _state_location(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option(
        "--state",
        "state_file",
        metavar="FILE|URL",
        help="The inventory: a SQLite file or a postgresql:// URL [env: RECONCILER_STATE;"
        " else reconciler.yaml `state`; else .reconciler/state.db].",
    )(command)
    return click.argument(
        "path", required=False, default=Path("."), type=click.Path(path_type=Path)
    )(command)


def _inventory_path(path: Path, state_file: str | None) -> Location:
    from reconciler import engine

    return engine.state_path([path], flag=state_file, environ=os.environ)


_STATE_YES = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


@state.command("list")
@_state_location
@_format_option(
    "text",
    "json",
    help="json: {version, path, exists, serial, lineage, lock: {holder, pid, host,"
    " acquired_at} or null, sessions: [{key, session_id, start_time, end_time, canceled,"
    " status, participants}]}, keys in this order; participants is a count.",
)
@_reporting_errors
def state_list_command(path: Path, state_file: str | None, output_format: str) -> None:
    """List the recorded sessions, with the inventory's serial and lock.

    One row per session: key, live session id, recorded start and end (UTC), status and
    participant count. STATUS is canceled, applied (last written by apply) or adopted (by
    import). Whether a session has started or finished depends on the API's clock:
    `reconciler plan` says.
    """
    from reconciler.inventory import Inventory
    from reconciler.render import state as views

    location = _inventory_path(path, state_file)
    with Inventory.open(location) as inventory:
        exists, lineage, lock = inventory.exists, inventory.lineage, inventory.lock_info()
        serial, records = inventory.snapshot()
    if output_format == "json":
        click.echo(
            views.listing_json(
                location, exists=exists, serial=serial, lineage=lineage, records=records, lock=lock
            )
        )
        return
    if not exists:
        lines = views.missing(location)
    else:
        lines = views.listing(location, serial=serial, lineage=lineage, records=records, lock=lock)
    for line in lines:
        click.echo(line)


@state.command("show")
@click.argument("key")
@_state_location
@_format_option(
    "text",
    "json",
    help="json: {version, key, session_id, start_time, end_time, canceled, status,"
    " participants: [{name, id_hash_prefix}], applied: the last-applied spec or null},"
    " keys in this order.",
)
@_reporting_errors
def state_show_command(key: str, path: Path, state_file: str | None, output_format: str) -> None:
    """Show what the inventory records for KEY (NAME or Session/NAME).

    Participants appear by name and the first 12 hex characters of their id's keyed hash;
    participant ids and entry links are never stored.
    """
    from reconciler.inventory import Inventory, session_key
    from reconciler.render import state as views

    location = _inventory_path(path, state_file)
    name = session_key(key)
    with Inventory.open(location) as inventory:
        record, exists = inventory.session(name), inventory.exists
    if record is None:
        _fail(views.not_recorded(location, name, exists=exists))
    if output_format == "json":
        click.echo(views.detail_json(record))
        return
    for line in views.detail(record):
        click.echo(line)


@state.command("forget")
@click.argument("key")
@_state_location
@_STATE_YES
@_reporting_errors
def state_forget_command(key: str, path: Path, state_file: str | None, yes: bool) -> None:
    """Remove the record of KEY (NAME or Session/NAME) from the inventory.

    The live session is left as it is: nothing is cancelled. If its manifest is still
    there, the next plan proposes creating the session again. Refused while an apply
    holds the lock.
    """
    from datetime import UTC, datetime

    from reconciler.inventory import Inventory, session_key
    from reconciler.render import state as views

    location = _inventory_path(path, state_file)
    name = session_key(key)
    with Inventory.open(location) as inventory:
        record = inventory.session(name)
        if record is None:
            _fail(views.not_recorded(location, name, exists=inventory.exists))
        if not yes:
            click.confirm(views.forget_prompt(record), abort=True)
        with inventory.writing(now=datetime.now(UTC), if_unlocked=True) as batch:
            forgot = batch.forget(name)
    if not forgot:
        _fail(views.not_recorded(location, name, exists=True))
    for line in views.forgotten(location, record):
        click.echo(line)


@state.command("unlock")
@_state_location
@_STATE_YES
@_reporting_errors
def state_unlock_command(path: Path, state_file: str | None, yes: bool) -> None:
    """Remove the inventory's lock, after showing who holds it.

    Only for a lock left behind by a run that crashed or was killed: removing the lock of
    a running apply lets a second one run beside it. A PostgreSQL inventory needs this
    never: the database frees a run's lock when its connection ends, and a lock that is
    still held belongs to a run that is still connected, so it is refused.
    """
    from reconciler.inventory import Inventory
    from reconciler.render import state as views

    location = _inventory_path(path, state_file)
    with Inventory.open(location) as inventory:
        held = inventory.lock_info()
        if held is not None and not yes and not inventory.lock_frees_itself:
            click.confirm(views.unlock_prompt(held), abort=True)
        removed = inventory.unlock() if held is not None else None
    click.echo(views.no_lock(location) if removed is None else views.unlocked(location, removed))


@state.command("migrate")
@click.option(
    "--from",
    "source_text",
    required=True,
    metavar="FILE|URL",
    help="The inventory to move: a SQLite file or a postgresql:// URL.",
)
@click.option(
    "--to",
    "destination_text",
    required=True,
    metavar="FILE|URL",
    help="Where to move it: a new or empty SQLite file, or a postgresql:// URL"
    " (`?schema=NAME`; default schema reconciler).",
)
@_reporting_errors
def state_migrate_command(source_text: str, destination_text: str) -> None:
    """Move an inventory to another backend: records, serial, identity and journal.

    Both inventories are locked while it runs, so no apply can run beside it. The copy
    lands in one transaction and is read back before anything else changes; then the old
    inventory is retired: commands that use it are refused, naming the new location.
    Keep the password out of the command line: give the URL without one and set
    PGPASSWORD (or use ~/.pgpass). Running it again after an interruption finishes the
    move.
    """
    from reconciler import engine
    from reconciler.inventory import LocationError, parse_location
    from reconciler.render import state as views

    try:
        source = parse_location(source_text)
        destination = parse_location(destination_text)
    except LocationError as error:
        _fail(f"--from/--to: {error}")
    moved = engine.migrate_state(source, destination)
    lines = views.migrated(
        moved.source, moved.destination, moved.content, resumed=moved.resumed, serial=moved.serial
    )
    for line in lines:
        click.echo(line)


@main.group()
def emulator() -> None:
    """A local stand-in for the Coviu and Auvious APIs."""


@emulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database; created if missing, reused (with its clock) if not.",
)
@click.option(
    "--clock", "clock_text", metavar="TIME", help="Set the emulator's clock (ISO 8601 or RFC 1123)."
)
@click.option(
    "--client",
    "client_texts",
    multiple=True,
    metavar="KEY:SECRET[:TEAM]",
    help="Register an API client (repeatable). Default: demo:demo-secret, team demo.",
)
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(1),
    help="Access token lifetime, seconds.",
)
def serve_command(
    host: str,
    port: int,
    db: Path,
    clock_text: str | None,
    client_texts: tuple[str, ...],
    token_ttl: int,
) -> None:
    """Serve both APIs on one port (Coviu under /v1, Auvious under /rtc-api)."""
    from reconciler.emulator import DEFAULT_CLIENTS, ClientCredentials, make_app
    from reconciler.emulator.server import banner, bind, bound_port, serve

    try:
        clients = [ClientCredentials.parse(text) for text in client_texts] or list(DEFAULT_CLIENTS)
        clock = parse_time(clock_text) if clock_text else None
    except (ValueError, TimeFormatError) as error:
        _fail(str(error))
    try:
        sock = bind(host, port)
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    port = bound_port(sock)
    try:
        app = make_app(
            db=db,
            clients=clients,
            token_ttl_seconds=token_ttl,
            web_origin=f"http://{_url_host(host)}:{port}",
            initial_clock=clock,
        )
    except (OSError, sqlite3.Error, RuntimeError) as error:
        sock.close()
        _fail(f"{db}: cannot open the emulator database: {error}")
    if clock is not None:
        app.state.emulator.store.set_now(clock)
    for line in banner(host=host, port=port, clients=clients, db=str(db)):
        click.echo(line)
    click.echo(f"  Clock             {format_iso(app.state.emulator.store.now())}")
    serve(app, sock)


@emulator.command("clock")
@click.argument("path", required=False, default=Path("."), type=click.Path(path_type=Path))
@click.option("--set", "set_text", metavar="TIME", help="Set the clock (ISO 8601 or RFC 1123).")
@click.option(
    "--advance",
    "advance_text",
    metavar="DURATION",
    help="Move the clock by 30m, 1h30m, PT2H, -1h …",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The database [default: .reconciler/emulator.db under the project of PATH].",
)
@_reporting_errors
def clock_command(
    path: Path, set_text: str | None, advance_text: str | None, db: Path | None
) -> None:
    """Show or move the embedded emulator's clock (PATH, default ., finds reconciler.yaml:
    the database lives beside it, as plan and apply use it)."""
    from reconciler import engine

    try:
        to = parse_time(set_text) if set_text else None
        advance = parse_duration(advance_text) if advance_text else None
    except (TimeFormatError, DurationError) as error:
        _fail(str(error))
    project = engine.Project.of([path])
    db = db or engine.embedded_db(project)
    try:
        now = move_clock(db, to=to, advance=advance, initial=project.config.emulator.clock)
    except TimeFormatError as error:
        _fail(str(error))
    except (OSError, sqlite3.Error, RuntimeError) as error:
        _fail(f"{db}: cannot open the emulator database: {error}")
    click.echo(format_iso(now))


@emulator.command("demo")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the demo's data in this database (default: in memory).",
)
def demo_command(db: Path | None) -> None:
    """Walk one consultation through its lifecycle on an in-process emulator."""
    from reconciler.emulator.demo import run_demo

    try:
        run_demo(db=db or ":memory:", say=click.echo)
    except (OSError, sqlite3.Error, RuntimeError) as error:
        _fail(f"{db}: cannot open the emulator database: {error}")
