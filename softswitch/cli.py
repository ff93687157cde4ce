"""The `softswitch` command: run the switch, check a config file."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import termios
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import click

from softswitch import __version__
from softswitch.acd.model import AcdConfig
from softswitch.acd.settings import SettingsError, parse_settings
from softswitch.config import (
    Config,
    ConfigError,
    apply_overrides,
    load_config,
    parse_port_range,
    summarize,
)
from softswitch.config_voicemail import VoicemailConfig, load_voicemail
from softswitch.ivr.settings import ivr_settings

EXIT_CONFIG = 2


def _fail(message: str) -> None:
    click.echo(f"softswitch: {message}", err=True)
    sys.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="softswitch")
def main() -> None:
    """SIP/RTP softswitch with a built-in call centre."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("config.example.toml"),
    show_default=True,
    help="TOML configuration file.",
)
@click.option(
    "--headless", is_flag=True, help="No console: log lines on stderr (for services, tests)."
)
@click.option("--sip-port", type=int, help="SIP port for UDP and TCP (overrides sip.port).")
@click.option("--sip-host", help="Address to bind SIP to (overrides sip.host).")
@click.option("--rtp-ports", help="RTP port range LOW-HIGH (overrides rtp.port_min/port_max).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Folder of the database (overrides data.dir).",
)
@click.option("--metrics-port", type=int, help="Prometheus port, 0 = off (overrides metrics.port).")
@click.option("--api-port", type=int, help="CTI API port, 0 = off (overrides api.port).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level (overrides log.level).",
)
def run(
    config_path: Path,
    headless: bool,
    sip_port: int | None,
    sip_host: str | None,
    rtp_ports: str | None,
    data_dir: Path | None,
    metrics_port: int | None,
    api_port: int | None,
    log_level: str | None,
) -> None:
    """Run the switch until SIGTERM or Ctrl-C."""
    try:
        config = load_config(config_path)
        acd = load_acd(config_path, config)
        voicemail = load_voicemail(config_path)
        config = apply_overrides(
            config,
            sip_host=sip_host,
            sip_port=sip_port,
            rtp_ports=parse_port_range(rtp_ports) if rtp_ports else None,
            data_dir=data_dir,
            metrics_port=metrics_port,
            log_level=log_level.lower() if log_level else None,
            api_port=api_port,
        )
        ivr_settings(config)  # [ivr] mistakes exit 2 here too, before anything starts
    except ConfigError as exc:
        _fail(str(exc))
        return
    _configure_logging(config.log.level, None if headless else config.data.dir / "softswitch.log")
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; stock asyncio still works
        pass
    status = asyncio.run(_serve(config, acd, voicemail, headless))
    sys.exit(status)


def _configure_logging(level: str, log_file: Path | None) -> None:
    """Log lines on stderr, or, with the console on the terminal, in `log_file` (the console's
    log pane shows the warnings and security events through the API)."""
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError:
            pass  # the switch's own start-up check reports the data dir clearly
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The database driver logs every statement at debug level: never useful to an operator.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


async def _serve(config: Config, acd: AcdConfig, voicemail: VoicemailConfig, headless: bool) -> int:
    from softswitch.app import StartupError, Switch

    # Handlers first: the switch answers SIP as soon as its transport is up, so a SIGTERM may
    # come before start() returns; it must still mean a clean shutdown.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    switch = Switch(config, acd, voicemail=voicemail, own_console=not headless)
    # SIGUSR1 reloads the IVR flows; so does SIGHUP when no terminal is ours (a daemon's
    # convention). With the console on the terminal, SIGHUP means the terminal is gone.
    loop.add_signal_handler(signal.SIGUSR1, switch.reload_flows)
    terminal = _TerminalWatch(loop, stop)
    if headless:
        loop.add_signal_handler(signal.SIGHUP, switch.reload_flows)
    else:
        terminal.start()
    try:
        await switch.start()
    except StartupError as exc:
        click.echo(f"softswitch: {exc}", err=True)
        return EXIT_CONFIG
    console_task: asyncio.Task[None] | None = None
    if not headless:
        console_task = loop.create_task(_own_console(switch.api_url, switch.console_token, stop))
    await stop.wait()
    logging.getLogger("softswitch").info("shutting down: ending calls")
    if terminal.gone.is_set():
        # The console cannot leave a dead terminal cleanly (Textual blocks writing to it):
        # end the calls first, then leave without waiting for it.
        await switch.stop()
        logging.shutdown()
        os._exit(0)
    if console_task is not None:
        await console_task
    await switch.stop()
    return 0


# Seconds the switch has to end its calls after its terminal hung up before the process leaves
# anyway: a console writing to a dead terminal can block the event loop for good.
HANGUP_GRACE_S = 10.0
TERMINAL_POLL_S = 0.5


class _TerminalWatch:
    """Notices that the console's terminal is gone, by SIGHUP or by the terminal itself
    (after a hang-up every tcgetattr fails with EIO; a process under `make` may never get the
    SIGHUP), asks for a clean stop, and makes sure the process ends within HANGUP_GRACE_S
    whatever the console does. Runs off the event loop, which a blocked console can stall."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self._loop = loop
        self._stop = stop
        self.gone = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        signal.signal(signal.SIGHUP, lambda signum, frame: self.lost("hung up"))
        threading.Thread(target=self._poll, name="terminal-watch", daemon=True).start()

    def _poll(self) -> None:
        fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else 0
        while not self.gone.is_set():
            try:
                termios.tcgetattr(fd)
            except (termios.error, OSError):
                self.lost("closed")
                return
            time.sleep(TERMINAL_POLL_S)

    def lost(self, how: str) -> None:
        with self._lock:
            if self.gone.is_set():
                return
            self.gone.set()
        logging.getLogger("softswitch").warning("the console's terminal %s: stopping", how)
        self._loop.call_soon_threadsafe(self._stop.set)
        threading.Thread(target=self._deadline, name="hangup-deadline", daemon=True).start()

    def _deadline(self) -> None:
        time.sleep(HANGUP_GRACE_S)
        logging.getLogger("softswitch").error(
            "terminal gone and the switch did not stop within %.0f s: leaving now "
            "(open CDR rows and recordings are closed at the next start)",
            HANGUP_GRACE_S,
        )
        logging.shutdown()
        os._exit(1)


def load_acd(path: Path, config: Config) -> AcdConfig:
    """The [acd], [[queues]] and [[agents]] sections of the file `load_config` accepted."""
    data = tomllib.loads(path.read_text())
    try:
        acd = parse_settings(data, {extension.number for extension in config.extensions})
    except SettingsError as exc:
        raise ConfigError(str(path), exc.key, exc.problem) from None
    from softswitch.media.prompts import PromptLibrary

    classes = PromptLibrary(config.data.dir / "prompts").moh_classes()
    for index, queue in enumerate(acd.queues):
        if queue.moh_class not in classes:
            raise ConfigError(
                str(path),
                f"queues[{index}].moh_class",
                f"no music-on-hold class {queue.moh_class!r}; available: {', '.join(classes)}",
            )
    return acd


async def _own_console(url: str, mint: Callable[[], str], stop: asyncio.Event) -> None:
    """The console on this terminal, logged in with a token the switch mints for it in memory
    (no password to type or store); leaving it stops the switch, as Ctrl-C did."""
    from softswitch.console.app import ConsoleApp
    from softswitch.console.session import MintedToken

    app = ConsoleApp(url, MintedToken(mint))
    waiting = asyncio.ensure_future(stop.wait())
    running = asyncio.ensure_future(app.run_async())
    await asyncio.wait({waiting, running}, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        app.exit()
        await running
    waiting.cancel()
    stop.set()


@main.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8088",
    show_default=True,
    help="The switch's CTI API.",
)
@click.option("--user", "username", default="admin", show_default=True, help="API user.")
def console(url: str, username: str) -> None:
    """Attach the operator console to a running switch (asks for the password)."""
    from softswitch.console.app import ConsoleApp
    from softswitch.console.session import PasswordLogin

    password = click.prompt(f"Password for {username}", hide_input=True)
    refused = asyncio.run(_check_login(url, username, password))
    if refused:
        _fail(refused)
    ConsoleApp(url, PasswordLogin(username, password)).run()


async def _check_login(url: str, username: str, password: str) -> str | None:
    """Why the switch refuses this login, or None; an unreachable switch is not a refusal
    (the console starts and connects when it comes)."""
    import aiohttp

    from softswitch.api.client import ApiClient, ApiClientError

    async with ApiClient(url) as api:
        try:
            await api.login(username, password)
            await api.logout()
        except ApiClientError as exc:
            return f"login refused: {exc.message or exc.status}"
        except (aiohttp.ClientError, OSError):
            return None
    return None


@main.command("cert")
@click.option(
    "--self-signed",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write cert.pem and key.pem to (created when missing).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="A host name or IP address the certificate names (repeatable); localhost, 127.0.0.1 "
    "and ::1 are always in it.",
)
def cert(directory: Path, names: tuple[str, ...]) -> None:
    """Make a self-signed certificate and key for SIP over TLS in a lab."""
    from softswitch.certificates import self_signed

    try:
        cert_path, key_path = self_signed(directory, names)
    except OSError as exc:
        _fail(f"cannot write to {directory}: {exc.strerror or exc}")
        return
    click.echo(f"wrote {cert_path} and {key_path}")
    click.echo(
        f'[tls]\ncertificate = "{cert_path}"\nprivate_key = "{key_path}"\n'
        '# and add "tls" to sip.transports'
    )


@main.command("check-config")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML configuration file (or give it as the argument).",
)
def check_config(path: Path | None, config_path: Path | None) -> None:
    """Validate a configuration file and its IVR flows; print what it sets up."""
    path = config_path or path
    if path is None:
        _fail("check-config: give the file, as in: softswitch check-config --config FILE")
        return
    try:
        config = load_config(path)
        ivr = ivr_settings(config)
        acd = load_acd(path, config)
        voicemail = load_voicemail(path)
    except ConfigError as exc:
        _fail(str(exc))
        return
    from softswitch.app import routing_plan

    dangling = routing_plan(config, acd).dangling(config)
    if dangling:
        click.echo(
            "\n".join(f"softswitch: {ConfigError(str(path), k, p)}" for k, p in dangling), err=True
        )
        sys.exit(EXIT_CONFIG)
    click.echo(summarize(config))
    click.echo(voicemail.summary())
    from softswitch.centre.voicemail import missing_prompts
    from softswitch.media.prompts import PromptLibrary

    missing = missing_prompts(voicemail, PromptLibrary(config.data.dir / "prompts"), str(path))
    if missing:
        click.echo("\n".join(f"softswitch: {problem}" for problem in missing), err=True)
        sys.exit(EXIT_CONFIG)
    if ivr is not None:
        from softswitch.ivr.validate import check_ivr

        lines, problems = check_ivr(ivr, str(path), config.data.dir / "prompts")
        click.echo("\n".join(lines))
        if problems:
            click.echo("\n".join(f"softswitch: {problem}" for problem in problems), err=True)
            sys.exit(EXIT_CONFIG)
    click.echo(f"{len(acd.queues)} queues, {len(acd.agents)} agents")
    click.echo(f"{path}: OK")


@main.command()
@click.option("--agents", type=click.IntRange(min=1), required=True, help="Identical agents.")
@click.option(
    "--arrival-rate",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Poisson arrivals, calls per second.",
)
@click.option(
    "--handle-time",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Mean (exponential) handle time, seconds.",
)
@click.option(
    "--patience",
    type=click.FloatRange(min=0, min_open=True),
    help="Mean (exponential) patience, seconds; without it nobody abandons.",
)
@click.option("--service-level-s", type=click.FloatRange(min=0), default=20.0, show_default=True)
@click.option("--calls", type=click.IntRange(min=100), default=100_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate(
    agents: int,
    arrival_rate: float,
    handle_time: float,
    patience: float | None,
    service_level_s: float,
    calls: int,
    seed: int,
    as_json: bool,
) -> None:
    """Run the ACD engine on a fake clock and compare with Erlang C (or Erlang A)."""
    from softswitch.acd.report import simulate_and_report

    try:
        text = simulate_and_report(
            agents, arrival_rate, handle_time, patience, service_level_s, calls, seed, as_json
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    click.echo(text)


@main.command("acd-bench", hidden=True)
@click.option("--samples", type=click.IntRange(min=10), default=2000, show_default=True)
def acd_bench(samples: int) -> None:
    """Time ACD routing decisions with 5 000 agents in 500 queues; print JSON (bench/acd.py)."""
    import json
    import statistics
    import time

    from softswitch.acd import benchmark

    decisions: dict[str, dict[str, float]] = {}
    for label, dispatch_all in (("fast", False), ("simple (oracle)", True)):
        count = samples if not dispatch_all else max(10, samples // 20)
        for name, scenario in benchmark.SCENARIOS.items():
            wall: list[float] = []
            cpu: list[float] = []
            for decide in scenario(benchmark.build(dispatch_all), count):
                w, c = time.perf_counter(), time.thread_time()
                events = decide()
                cpu.append((time.thread_time() - c) * 1e6)
                wall.append((time.perf_counter() - w) * 1e6)
                if not any(type(e).__name__ == "OfferCall" for e in events):
                    raise click.ClickException(f"{name}: the decision offered nothing")
            wall.sort()
            cpu.sort()
            p99 = max(0, int(len(wall) * 0.99) - 1)
            decisions[f"{name} [{label}]"] = {
                "p50_us": statistics.median(wall),
                "p99_us": wall[p99],
                "max_us": wall[-1],
                "cpu_p50_us": statistics.median(cpu),
                "cpu_p99_us": cpu[p99],
                "samples": len(wall),
            }
    click.echo(
        json.dumps(
            {
                "agents": benchmark.AGENTS,
                "queues": benchmark.QUEUES,
                "queues_per_agent": benchmark.QUEUES_PER_AGENT,
                "waiting_per_queue": benchmark.WAITING_PER_QUEUE,
                "decisions": decisions,
            }
        )
    )


@main.command("hash-password")
@click.option(
    "--scheme",
    type=click.Choice(["scrypt", "pbkdf2_sha256"]),
    default="scrypt",
    show_default=True,
    help="Hash function (RFC 7914 scrypt, or RFC 8018 PBKDF2-HMAC-SHA256).",
)
def hash_password_command(scheme: str) -> None:
    """Print a salted hash of a password (asked twice, or read from a pipe) for password_hash."""
    from softswitch.security.passwords import hash_password

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("the password is empty")
    click.echo(hash_password(password, scheme))


@main.command("check-install")
def check_install() -> None:
    """Check that every library the switch needs loads and works here (exit 1 if not)."""
    from softswitch.runtime_check import run_checks

    results = run_checks()
    for result in results:
        status = "ok" if result.ok else "FAILED"
        click.echo(f"{result.distribution} {result.version}: {status}: {result.detail}")
    if not all(result.ok for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
