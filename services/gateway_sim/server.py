"""The asyncio server: accepts connections, runs a session per client, streams ticks, plays faults.

Everything protocol-shaped happens in :class:`~services.gateway_sim.session.Session`,
and the Gateway's login, restarts and IB's conditions in
:class:`~services.gateway_sim.lifecycle.GatewayLife`; this module moves bytes,
keeps time, carries out the lifecycle's actions (through its driver), serves
IBC's command server, and applies the fault modes:

* ``silent``: read the handshake, never answer; close when the client does.
* ``close-wait``: the same, but never close our side, so the socket sits in CLOSE_WAIT.
* ``crash-after S``: exit abruptly S seconds after start.
* ``hang-after S``: after S seconds answer nothing and close nothing (TCP alive, API dead).
* ``--api-delay S``: hold handshake answers until S seconds after the API port opened.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import dataclass, field

from stackkit.clock import Clock, ScaledClock, SystemClock
from ibproto.errors import ProtocolError
from ibproto.wire import HandshakeDecoder
from ibproto import versions
from services.errors import ServiceError
from services.gateway_sim.account import PaperAccount
from services.gateway_sim.api_port import ApiPort, os_reason
from services.gateway_sim.calendar import choose_login_zone
from services.gateway_sim.config import SimulatorConfig
from services.gateway_sim.driver import LifecycleDriver, first_of, market_data_ids
from services.gateway_sim.gateway import Gateway, Policy
from services.gateway_sim.ibc import CommandServer
from services.gateway_sim.lifecycle import GatewayLife
from services.gateway_sim.log import EventLog
from services.gateway_sim.market import MarketModel
from services.gateway_sim.orders import ExecutionEngine
from services.gateway_sim.prices import PricePath
from services.gateway_sim.scenario import simulated_start
from services.gateway_sim.session import Phase, Session
from services.gateway_sim.store import StateFile

SERVER_MIN_VERSION = versions.IMPLEMENTED_MIN
SERVER_MAX_VERSION = versions.IMPLEMENTED_MAX

READ_CHUNK = 64 * 1024
# A client that stops reading gets its ticks dropped once this much is queued for it,
# so one stuck client cannot grow the simulator's memory or slow the others down.
SLOW_READER_LIMIT = 4 * 1024 * 1024
CRASH_EXIT_CODE = 1
SHUTDOWN_GRACE = 0.5
# A client may send this many frames a second before its reads are paused (the others go on).
FLOOD_FRAMES_PER_SECOND = 5000


class CannotListen(ServiceError):
    """A port the simulator must listen on is taken (or not ours to take)."""


@dataclass
class Connection:
    """One accepted client socket and its session."""

    number: int
    peer: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    session: Session
    dropping_ticks: bool = False
    closed_by: str | None = None  # why the simulator closed it (soft restart, shutdown), if it did
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def closing(self) -> bool:
        return self.writer.transport.is_closing()


class GatewayServer:
    """Serves the TWS API on one port until told to stop."""

    def __init__(self, config: SimulatorConfig, *, clock: Clock | None = None, log: EventLog | None = None,
                 rng: random.Random | None = None):
        self.config = config
        self.clock = clock or SystemClock()
        self.log = log or EventLog(self.clock)
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        self.gateway = build_gateway(config, self.clock, self.seed, rng, self.log)
        self.connections: dict[int, Connection] = {}
        self.hung = False
        self.port = config.port
        week = config.week
        choose_login_zone(week.timezone)
        # The lifecycle's clock: real time, or a compressed day from a scenario's time_scale/start_time.
        self.week_clock: Clock = self.clock
        if week.simulated_clock:
            self.week_clock = ScaledClock(self.clock, week.time_scale, simulated_start(week, self.clock.now()))
        self.life = GatewayLife(week, config.api_delay, self.week_clock)
        self.driver: LifecycleDriver | None = None
        self.commands: CommandServer | None = None
        self._api_port = ApiPort(config.host, config.port, READ_CHUNK)
        self._exit_status = 0
        self._started = self.clock.monotonic()
        self._count = 0
        self._stop: asyncio.Event | None = None
        self._handlers: set[asyncio.Task] = set()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def exit(self, status: int) -> None:
        """End the run with ``status`` (STOP, a second factor that never came, a lost port)."""
        if not self.stopping:
            self._exit_status = status
            self._stop.set()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT, STOP or an exit IBC would make; return the exit status."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        config, week = self.config, self.config.week
        try:
            self.port = self._api_port.reserve()
        except OSError as problem:
            raise CannotListen(f"cannot listen on {config.host}:{config.port}: {os_reason(problem)}") from problem
        self.driver = LifecycleDriver(self, self.life, self._api_port, self.week_clock)
        try:
            if week.ibc_command_port is not None:
                self.commands = CommandServer(week.ibc_command_port, self.log, self.life.command, self.driver.settle)
                await self.commands.start()
        except OSError as problem:
            self._api_port.close()
            raise CannotListen(f"cannot listen on 127.0.0.1:{week.ibc_command_port} (--ibc-command-port): "
                               f"{os_reason(problem)}") from problem
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop, signal.Signals(signum).name)
        self._schedule_faults(loop)
        if not week.plain:
            self.log(f"gateway week: {week.describe()}")
        tasks = [asyncio.create_task(self._tick_loop()), asyncio.create_task(self.driver.run())]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        if self.commands is not None:
            await self.commands.close()
        self._api_port.close()
        await self._close_all()
        self.gateway.save_if_due(self.gateway.now(), force=True)
        self.log("stopped")
        return self._exit_status

    def _request_stop(self, signal_name: str) -> None:
        if self._stop is not None and not self._stop.is_set():
            self.log(f"{signal_name} received: closing {len(self.connections)} connection(s) and exiting")
            self._stop.set()

    async def _close_all(self) -> None:
        """Close every client and let each handler finish on its own.

        Handlers must end rather than be cancelled: a cancelled stream handler
        makes asyncio print a traceback, which is noise in the service's log.
        """
        self.drop_connections("shutting down")
        deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE
        while self._handlers:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._handlers), timeout=remaining)

    def drop_connections(self, reason: str) -> int:
        """The one way the simulator closes API connections (soft restart, stop, shutdown); returns how many."""
        dropped = 0
        for connection in list(self.connections.values()):
            if connection.closed_by is None:
                connection.closed_by = reason
                dropped += 1
            connection.writer.close()
            connection.ended.set()
        return dropped

    def _schedule_faults(self, loop: asyncio.AbstractEventLoop) -> None:
        fault = self.config.fault
        if fault.kind == "crash-after":
            loop.call_later(self._remaining(fault.after), self._crash)
        elif fault.kind == "hang-after":
            loop.call_later(self._remaining(fault.after), self._hang)

    def _remaining(self, seconds_after_start: float) -> float:
        return max(0.0, self._started + seconds_after_start - self.clock.monotonic())

    def _crash(self) -> None:
        self.log(f"fault crash-after {self.config.fault.after:g}s: crashing now (exit status {CRASH_EXIT_CODE}, "
                 f"{len(self.connections)} connection(s) dropped without goodbye)")
        os._exit(CRASH_EXIT_CODE)

    def _hang(self) -> None:
        self.hung = True
        self.log(f"fault hang-after {self.config.fault.after:g}s: API hung, answering nothing from now on; "
                 f"{len(self.connections)} socket(s) stay open")

    # --- connections ----------------------------------------------------------------------

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await self._handle(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        number = self._count
        address, port = writer.get_extra_info("peername")[:2]
        peer = f"{address}:{port}"
        if self._stop.is_set():
            self.log(f"conn {number} from {peer} closed at once: shutting down")
            writer.close()
            return
        if not self.config.trusts(address):
            self.log(f"conn {number} from {peer} refused: {address} is not a trusted IP; closed without a byte")
            writer.close()
            return
        connection = Connection(number, peer, reader, writer, Session(number, self.gateway))
        self.connections[number] = connection
        self.log(f"conn {number} from {peer} accepted")
        try:
            if self.config.fault.kind in ("silent", "close-wait"):
                await self._serve_mute(connection)
            else:
                await self._serve(connection)
        except (ConnectionError, OSError) as problem:
            self.log(f"conn {number} disconnected: {problem.__class__.__name__}: {problem}")
        finally:
            connection.session.release()
            self.connections.pop(number, None)
            if not connection.closing:
                writer.close()

    async def _serve(self, connection: Connection) -> None:
        session, number = connection.session, connection.number
        budget = _FloodBudget(self.clock.monotonic())
        while True:
            try:
                data = await asyncio.wait_for(connection.reader.read(READ_CHUNK), self._read_deadline(session))
            except asyncio.TimeoutError:
                self.log(f"conn {number} {self._timeout_reason(session)}; closing")
                return
            if not data:
                await self._client_closed(connection)
                return
            if self.hung:
                self.log(f"conn {number} hung API ignored {len(data)} bytes")
                continue
            await self._hold_until_api_ready(connection)
            if self.hung or self._stop.is_set() or connection.closed_by:
                continue
            started_before, subscribed_before = session.client_id is not None, set(market_data_ids(session))
            reaction = session.receive(data)
            while True:
                if reaction.replies and not connection.closing:
                    connection.writer.write(reaction.payload)
                for line in reaction.log:
                    self.log(f"conn {number} {line}")
                self.flush_output()
                if reaction.close:
                    self.log(f"conn {number} closed by the simulator")
                    return
                self.driver.after_requests(connection, started_before, subscribed_before)
                if not reaction.more:
                    break
                # Fair service: let every other client (and the market) run between batches, and
                # slow this one down once it exceeds its frame budget.
                pause = budget.pause(self.clock.monotonic())
                if pause and not budget.reported:
                    budget.reported = True
                    self.log(f"conn {number} flooding: over {FLOOD_FRAMES_PER_SECOND} frames a second, "
                             f"{session.backlog} waiting; serving it at that rate, the others go on")
                await asyncio.sleep(pause)
                reaction = session.receive(b"")

    def _read_deadline(self, session: Session) -> float | None:
        """The handshake must complete, startApi arrive and a started frame finish within their limits."""
        config = self.config
        if session.phase is Phase.HANDSHAKE:
            return config.handshake_timeout
        if session.phase is Phase.STARTING or session.partial_bytes:
            return config.idle_limit
        return None

    def _timeout_reason(self, session: Session) -> str:
        if session.phase is Phase.HANDSHAKE:
            return f"no complete handshake within {self.config.handshake_timeout:g}s (--handshake-timeout)"
        if session.phase is Phase.STARTING:
            return f"no startApi within {self.config.idle_limit:g}s of the handshake (--idle-limit)"
        return (f"a frame left incomplete ({session.partial_bytes} bytes) for {self.config.idle_limit:g}s "
                f"(--idle-limit)")

    def flush_output(self) -> None:
        """Write what sessions queued outside their own input (fills, streams, notices).

        Public: code that calls ``Session.notify`` or ``Session.drop_market_data`` from outside a
        session's input (a farm outage, a connectivity loss) calls this to send at once; otherwise
        the next market step sends it.
        """
        for connection in list(self.connections.values()):
            payload, lines = connection.session.take_output()
            for line in lines:
                self.log(f"conn {connection.number} {line}")
            if not payload or connection.closing:
                continue
            backlog = connection.writer.transport.get_write_buffer_size()
            if backlog > SLOW_READER_LIMIT:
                if not connection.dropping_ticks:
                    self.log(f"conn {connection.number} slow reader: {backlog} bytes queued, dropping its updates")
                connection.dropping_ticks = True
                continue
            if connection.dropping_ticks:
                self.log(f"conn {connection.number} caught up: sending updates again")
                connection.dropping_ticks = False
            connection.writer.write(payload)

    async def _client_closed(self, connection: Connection) -> None:
        if connection.closed_by:
            self.log(f"conn {connection.number} closed by the simulator ({connection.closed_by})")
            return
        if self.hung:
            # A hung Gateway never processes the close: our side stays open (CLOSE_WAIT).
            self.log(f"conn {connection.number} closed by client; hung API keeps its side open")
            await first_of([self._stop.wait(), connection.ended.wait()])
            return
        for line in connection.session.end_of_stream():
            self.log(f"conn {connection.number} {line}")
        self.log(f"conn {connection.number} disconnected: closed by client (client id "
                 f"{connection.session.client_id if connection.session.client_id is not None else 'none'})")

    async def _hold_until_api_ready(self, connection: Connection) -> None:
        """While the API initialises, TCP is accepted and the handshake goes unanswered (the seeds' symptom)."""
        driver = self.driver
        if driver.api_ready.is_set():
            return
        left = driver.seconds_until_ready()
        self.log(f"conn {connection.number} API not ready yet: holding the answer "
                 f"({'?' if left is None else f'{left:.2f}'}s left, --api-delay)")
        # The initialisation itself; a shutdown or the connection's end ends it early.
        await first_of([driver.api_ready.wait(), self._stop.wait(), connection.ended.wait()])

    async def _serve_mute(self, connection: Connection) -> None:
        """silent / close-wait: read and log the handshake, answer nothing."""
        kind, number = self.config.fault.kind, connection.number
        decoder: HandshakeDecoder | None = HandshakeDecoder()
        while True:
            data = await connection.reader.read(READ_CHUNK)
            if not data:
                break
            if decoder is None:
                continue
            try:
                offer = decoder.feed(data)
            except ProtocolError as problem:
                self.log(f"conn {number} bad input: {problem} (not answering: --fault {kind})")
                decoder = None
                continue
            if offer is not None:
                self.log(f"conn {number} handshake v{offer.low}..{offer.high} received; not answering "
                         f"(--fault {kind})")
                decoder = None
        if connection.closed_by:
            self.log(f"conn {number} closed by the simulator ({connection.closed_by})")
            return
        if kind == "close-wait":
            self.log(f"conn {number} closed by client; never closing our side (--fault close-wait): "
                     f"socket left in CLOSE_WAIT")
            await first_of([self._stop.wait(), connection.ended.wait()])
            return
        self.log(f"conn {number} disconnected: closed by client")

    # --- market data ----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        """Step the market every tick interval and send each subscriber its ticks."""
        loop = asyncio.get_running_loop()
        interval = self.config.tick_interval
        next_step = loop.time()
        while True:
            next_step += interval
            delay = next_step - loop.time()
            if delay < -interval:
                next_step = loop.time()  # fell behind: skip the missed steps rather than bursting them
            # Pacing, not synchronisation: the market moves once per interval.
            await asyncio.sleep(max(0.0, delay))
            if not self.hung and self.life.conditions.data_flowing:
                self._broadcast_step()

    def _broadcast_step(self) -> None:
        self.gateway.step()
        self.flush_output()


class _FloodBudget:
    """Frames a connection may have handled this second; past it, pause that connection only."""

    def __init__(self, now: float):
        self.window, self.frames = int(now), 0
        self.reported = False

    def pause(self, now: float) -> float:
        if int(now) != self.window:
            self.window, self.frames = int(now), 0
        self.frames += 200  # one batch (session.FRAMES_PER_TURN)
        if self.frames <= FLOOD_FRAMES_PER_SECOND:
            return 0.0
        return max(0.0, self.window + 1 - now)


def build_gateway(config: SimulatorConfig, clock: Clock, seed: int, rng: random.Random | None,
                  log: EventLog) -> Gateway:
    """The shared state from the command line: price path, market, account and order ids from the state file."""
    store = StateFile(config.state_file)
    engine_state, account_state, said = store.load()
    log(said)
    account = PaperAccount.from_state(config.account, account_state) if account_state else PaperAccount(config.account)
    market = MarketModel(PricePath(seed, clock.now().timestamp()), rng or random.Random(seed))
    policy = Policy(orders=config.orders, read_only=config.read_only, pacing=config.pacing,
                    market_data_lines=config.market_data_lines,
                    no_next_valid_id=config.fault.kind == "no-next-valid-id")
    return Gateway(market, account, clock, engine=ExecutionEngine(engine_state), store=store, policy=policy,
                   max_clients=config.max_clients, min_version=SERVER_MIN_VERSION, max_version=SERVER_MAX_VERSION)
