"""Command line: `quantix-lb serve` and `health-worker` (the processes), and the operators'
client commands (`lb`, `listener`, `pool`, `member`, `stats`, `watch`) against a running
server's public API.

The client commands import nothing of the server (no store, OVN or web server): they speak
the generated Connect client of limiquantix.network.v1."""

from __future__ import annotations

import click

from quantix_lb.cli.daemons import LogSettings, health_worker, serve
from quantix_lb.cli.lb import lb_group
from quantix_lb.cli.observe import stats, watch
from quantix_lb.cli.parts import listener_group, member_group, pool_group

PROG = "quantix-lb"
COMPLETE_VAR = "_QUANTIX_LB_COMPLETE"  # click's shell completion: _QUANTIX_LB_COMPLETE=bash_source quantix-lb
SHELLS = ("bash", "zsh", "fish")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="quantix-lb", prog_name=PROG, message="%(prog)s %(version)s")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="log lines of serve and health-worker",
)
@click.option("--log-level", default="info", show_default=True, help="log level of serve and health-worker")
@click.pass_context
def cli(ctx: click.Context, log_format: str, log_level: str) -> None:
    """Layer-4 load balancing on OVN.

    serve and health-worker run the service; the other commands manage load balancers
    through a running server's API (--url, default http://127.0.0.1:8080 or
    $QUANTIX_LB_URL; --token or $QUANTIX_LB_TOKEN)."""
    ctx.obj = LogSettings(log_format, log_level)


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash: eval "$(quantix-lb completion bash)"      (e.g. in ~/.bashrc)
    zsh:  eval "$(quantix-lb completion zsh)"       (e.g. in ~/.zshrc)
    fish: quantix-lb completion fish > ~/.config/fish/completions/quantix-lb.fish
    (the same as _QUANTIX_LB_COMPLETE=bash_source quantix-lb, click's own way)"""
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    assert complete is not None  # every name in SHELLS is one of click's
    click.echo(complete(cli, {}, PROG, COMPLETE_VAR).source(), nl=False)


for command in (serve, health_worker, lb_group, listener_group, pool_group, member_group, stats, watch):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """The `quantix-lb` entry point (and `python -m quantix_lb`): exits with the command's code."""
    return cli.main(args=argv, prog_name=PROG, complete_var=COMPLETE_VAR)


__all__ = ["cli", "main"]
