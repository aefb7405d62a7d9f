"""The Gateway's notices as values: classification and the board of what is in force."""

from __future__ import annotations

from ibproto.codes import say
from ibproto.notices import NoticeBoard, classify


def board_after(*records: tuple[int, str], start: float = 100.0) -> NoticeBoard:
    board = NoticeBoard()
    for offset, (code, text) in enumerate(records):
        notice = classify(code, text)
        if notice is not None:
            board = board.absorb(notice, start + offset)
    return board


def test_the_gateways_own_wording_classifies():
    broken = classify(*say(2103, "usfarm.nj"))
    assert (broken.kind, broken.ok, broken.farm, broken.farm_kind) == ("farm", False, "usfarm.nj", "market data")
    assert classify(*say(2158, "secdefnj")).ok
    assert classify(*say(1101)).data_kept is False and classify(*say(1102, "")).data_kept is True
    assert classify(*say(10197)).kind == "competing-session"
    assert classify(*say(321, "bN", "The API interface is currently in Read-Only mode.")).kind == "read-only"
    assert classify(*say(321, "bN", "Invalid account code DU1")) is None
    assert classify(200, "No security definition") is None


def test_farms_break_and_come_back_each_with_its_time():
    board = board_after(say(2103, "usfarm"), say(2105, "ushmds"), say(2106, "ushmds"))
    assert board.farms_broken == {"usfarm": 100.0} and board.market_data_farms_broken == ["usfarm"]
    assert not board.clear
    assert board_after(say(2103, "usfarm"), say(2104, "usfarm")).clear


def test_connectivity_lost_then_restored_with_data_lost_or_kept():
    lost = board_after(say(2103, "usfarm"), say(1100))
    assert lost.connectivity_lost_since == 101.0 and lost.summary()["connectivity"] == "lost"
    data_lost = board_after(say(1100), say(1101))
    assert data_lost.connectivity_lost_since is None and data_lost.data_lost_at == 101.0
    kept = board_after(say(2103, "usfarm"), say(1100), say(1102, " All data farms are connected: usfarm."))
    assert kept.clear and kept.data_lost_at is None  # 1102 says every farm is connected


def test_a_competing_session_ends_when_data_flows_again():
    board = board_after(say(10197), say(10197))
    assert board.competing_since == 100.0
    assert board.data_flowing().competing_since is None
    assert board.summary() == {"farms_broken": [], "connectivity": "ok", "competing_session": True,
                               "read_only": False}
