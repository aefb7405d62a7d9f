"""IB's conditions reaching real clients: farm outages, connectivity loss (1101/1102), competing sessions,
and the daily auto-restart on a compressed clock.

Events count from the login, which a plain simulator completes at start; they are
set 3 s in so the clients below are connected and streaming first.
"""

from __future__ import annotations

import asyncio

from ib_async import IB, Stock

from tests.gateway_sim.support import FAST_TICKS, WireClient, is_tick, log_line
from tests.gateway_sim.test_ib_async import collect_errors, until
from tests.gateway_sim.week_support import IbcClient, lines_in_order, start_sim

LEAD = "3"  # seconds from the login to an event: time for the test's clients to connect and stream
FARM_BROKEN = [2103, 2105, 2157]
FARM_OK = [2104, 2106, 2158]


def is_error(code: int):
    return lambda message: message[0] == "4" and message[3] == str(code)


def messages_until(client: WireClient, code: int) -> list[list[str]]:
    """Every message up to and including the error record ``code``."""
    seen = []
    while True:
        seen.append(client.read_message())
        if is_error(code)(seen[-1]):
            return seen


def streaming_client(port: int, *request_ids: int) -> WireClient:
    client = WireClient(port)
    client.connect_api(request_ids[0])
    for request_id in request_ids:
        client.subscribe(request_id, "AAPL")
    client.read_until(is_tick)
    return client


async def test_a_farm_outage_and_its_end_on_reconnectdata_reach_an_ib_async_client(processes):
    sim = start_sim(processes, "--ibc-command-port", "0", "--farm-outage", f"{LEAD}:600")
    ib = IB()
    errors = collect_errors(ib)
    await ib.connectAsync("127.0.0.1", sim.port, clientId=5)
    try:
        await until(lambda: len(errors) >= 6, "the farms broken")
        with IbcClient(sim.command_port) as client:
            client.send("RECONNECTDATA")
            assert await asyncio.to_thread(client.read_line) == "OK "
        await until(lambda: len(errors) >= 9, "the farms OK again")
        # At connect, farms OK; then broken (to a connected session, or at once to one connecting late); then OK.
        assert [code for _, code, _ in errors] == FARM_OK + FARM_BROKEN + FARM_OK
        assert {req_id for req_id, _, _ in errors} == {-1}
        assert errors[3][2] == "Market data farm connection is broken:usfarm"
        assert errors[4][2] == "HMDS data farm connection is broken:ushmds"
        assert errors[5][2] == "Sec-def data farm connection is broken:secdefnj"
        assert errors[6][2] == "Market data farm connection is OK:usfarm"
    finally:
        ib.disconnect()
    lines_in_order(sim.proc, [r"condition farms-broken: usfarm, ushmds, secdefnj \(2103, 2105, 2157\)",
                              r"condition farms-ok: usfarm, ushmds, secdefnj \(2104, 2106, 2158\); on RECONNECTDATA"])


def test_ticks_stop_while_the_market_data_farm_is_broken(processes):
    sim = start_sim(processes, *FAST_TICKS, "--farm-outage", f"{LEAD}:0.5")
    client = streaming_client(sim.port, 1)
    messages_until(client, 2103)
    during = messages_until(client, 2104)  # 0.5 s of outage: 25 market steps without a tick
    assert [m[3] for m in during] == ["2105", "2157", "2104"]
    assert client.read_until(is_tick)[2] == "1"  # the subscription was kept


def test_connectivity_lost_with_1101_drops_every_subscription_until_requested_again(processes):
    sim = start_sim(processes, *FAST_TICKS, "--connectivity-loss", f"{LEAD}:0.5:lost")
    client = streaming_client(sim.port, 1)
    lost = messages_until(client, 1100)
    assert lost[-1][4] == "Connectivity between IB and Trader Workstation has been lost."
    restored = messages_until(client, 1101)
    assert restored == [restored[-1]]  # not a single tick while IB was unreachable
    assert restored[-1][4] == "Connectivity between IB and Trader Workstation has been restored - data lost."
    log_line(sim.proc, r"conn 1 market data dropped \(1101\): 1 subscription\(s\) get no more ticks")
    client.subscribe(2, "AAPL")  # the client requests its data again, as it must after 1101
    ticks = []
    while len([m for m in ticks if m[0] == "1"]) < 15:  # five market steps of bid, ask, last
        message = client.read_message()
        if is_tick(message):
            ticks.append(message)
    assert {m[2] for m in ticks} == {"2"}  # the same instrument, yet nothing for the dropped request 1


def test_connectivity_restored_with_1102_keeps_the_subscriptions(processes):
    sim = start_sim(processes, *FAST_TICKS, "--connectivity-loss", f"{LEAD}:0.5:kept")
    client = streaming_client(sim.port, 1)
    messages_until(client, 1100)
    restored = messages_until(client, 1102)
    assert restored == [restored[-1]]
    assert restored[-1][4].startswith("Connectivity between IB and Trader Workstation has been restored - data "
                                      "maintained.")
    assert client.read_until(is_tick)[2] == "1"  # flowing again without a new request
    log_line(sim.proc, r"condition connectivity-restored-data-kept: 1102")


async def test_an_ib_async_client_hears_1100_and_1101_and_gets_ticks_again_by_requesting_them(processes):
    sim = start_sim(processes, *FAST_TICKS, "--connectivity-loss", f"{LEAD}:0.3:lost")
    ib = IB()
    errors = collect_errors(ib)
    await ib.connectAsync("127.0.0.1", sim.port, clientId=6)
    try:
        [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        ticker = ib.reqMktData(contract)
        await until(lambda: [code for _, code, _ in errors][-1:] == [1101], "1100 then 1101")
        assert [code for _, code, _ in errors][-2:] == [1100, 1101]
        updates = []
        ticker.updateEvent += updates.append
        ib.reqMktData(contract)  # what a trader must do on 1101
        await until(lambda: len(updates) >= 3, "ticks after requesting the data again")
    finally:
        ib.disconnect()


def test_a_competing_session_sends_10197_per_subscription_and_holds_the_ticks_until_it_ends(processes):
    sim = start_sim(processes, *FAST_TICKS, "--competing-session", f"{LEAD}:0.5")
    client = streaming_client(sim.port, 1, 2)
    first = messages_until(client, 10197)
    second = client.read_message()
    assert (first[-1][2], second[2], second[3]) == ("1", "2", "10197")
    assert second[4] == "No market data during competing live session"
    log_line(sim.proc, r"condition competing-session-ended")
    assert client.read_until(is_tick)[2] in ("1", "2")


def test_the_daily_auto_restart_fires_at_its_local_time_on_a_compressed_clock(processes):
    # 23:44:50 in New York at start, 20x faster: 23:45 comes half a real second later.
    sim = start_sim(processes, "--auto-restart", "23:45", "--timezone", "America/New_York", "--time-scale", "20",
                    "--start-time", "23:44:50", "--restart-duration", "10")
    lines_in_order(sim.proc, [r"state restarting: daily auto-restart at 23:45 America/New_York; API port refusing "
                              r"connections for 10s",
                              r"listening on .* again", r"state ready"])
    assert not any(" IBC: " in line for line in sim.proc._seen_lines)  # no IBC: the Gateway restarts itself
