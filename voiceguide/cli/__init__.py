"""The ``voiceguide`` command: thin click wiring over the library.

Every error a user can cause is a VoiceguideError; the group turns it into one
line on stderr and a non-zero exit, so no command needs its own try/except.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click

from voiceguide import __version__
from voiceguide.errors import VoiceguideError
from voiceguide.lifeline import Terminated
from voiceguide.textsafe import printable


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Usage mistakes get one line too (click's own format takes three)."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as err:
            where = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            click.echo(f"voiceguide: {err.format_message()}{where}", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"voiceguide: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort as err:
            _interrupted(err.__cause__)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VoiceguideError as err:
            click.echo(f"voiceguide: {printable(str(err))}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt as err:
            _interrupted(err)
        except OSError as err:  # the system refused: a full disk, a name too long, /dev/full
            _os_failure(err)


def _os_failure(err: OSError) -> None:
    """One line for what the system refused; stdout's own failures included."""
    if isinstance(err, BrokenPipeError) and _stdout_reader_gone():
        _silence_stdout()
        sys.exit(1)  # `voiceguide show x | head`: the reader had enough
    if err.filename is None:
        _silence_stdout()  # a full /dev/full would fail again at exit
    what = err.strerror or str(err)
    if err.filename is None:
        click.echo(f"voiceguide: cannot write the output: {what}", err=True)
    else:
        name = str(err.filename)
        shown = name if len(name) <= 80 else f"{name[:40]}…{name[-20:]}"
        click.echo(f"voiceguide: {printable(shown)}: {what}", err=True)
    sys.exit(1)


def _stdout_reader_gone() -> bool:
    """True when stdout is a pipe nobody reads any more."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _interrupted(err: BaseException | None) -> None:
    if isinstance(err, Terminated):
        click.echo("voiceguide: terminated", err=True)
        sys.exit(Terminated.exit_code)
    click.echo("voiceguide: interrupted", err=True)
    sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voiceguide")
def main() -> None:
    """Talk a person through a back massage, hands free.

    \b
    Examples:
      voiceguide routines                      list the built-in routines
      voiceguide show therapist-ten-step       read the timed script
      voiceguide render therapist-ten-step     write a session MP3 with chapters
      voiceguide play therapist-ten-step       guide a massage live
    """
    ctx = click.get_current_context()
    command = main.commands.get(ctx.invoked_subcommand or "")
    if command is not None and command.name in ("render", "play"):
        from voiceguide.cli.options import config_defaults

        ctx.default_map = {command.name: config_defaults(command, ctx)}


from voiceguide.cli.routines import new, routines, show, validate  # noqa: E402

for _command in (routines, show, validate, new):
    main.add_command(_command)

# Other command modules register themselves below.

from voiceguide.cli.ambience import ambience  # noqa: E402

main.add_command(ambience)

from voiceguide.cli.speech import cache, config, say  # noqa: E402
from voiceguide.cli.voices import voices  # noqa: E402

for _command in (voices, say, cache, config):
    main.add_command(_command)

from voiceguide.cli.render import render  # noqa: E402

main.add_command(render)

from voiceguide.cli.play import play  # noqa: E402

main.add_command(play)

from voiceguide.cli.serve import serve  # noqa: E402

main.add_command(serve)

from voiceguide.cli.listen import listen  # noqa: E402

main.add_command(listen)
