"""Start order and dependency problems, on plain mappings."""

from __future__ import annotations

import pytest

from launcher.stack.ordering import DependencyProblem, dependency_problems, find_cycle, start_order


def test_dependencies_first_then_file_order():
    graph = {"trader": ["ws"], "ws": ["gateway"], "monitor": [], "gateway": []}
    assert start_order(graph) == ("monitor", "gateway", "ws", "trader")


def test_diamond():
    graph = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
    assert start_order(graph) == ("a", "b", "c", "d")


def test_no_dependencies_is_file_order():
    assert start_order({"z": [], "y": [], "x": []}) == ("z", "y", "x")


def test_unknown_self_and_repeated_dependencies_are_each_reported():
    problems = dependency_problems({"a": ["a", "b", "b"], "b": ["ghost"]})
    assert problems == [
        DependencyProblem("a", 0, '"a" depends on itself'),
        DependencyProblem("a", 2, '"b" is listed twice'),
        DependencyProblem("b", 0, '"b" depends on "ghost", which is not a service in this file (services: a, b)'),
    ]


def test_long_service_lists_are_not_spelled_out():
    graph = {f"service{i}": [] for i in range(9)}
    graph["service0"] = ["zzz"]
    assert dependency_problems(graph)[0].message == (
        '"service0" depends on "zzz", which is not a service in this file'
    )


def test_cycle_is_named_whole_from_its_first_service_in_the_file():
    graph = {"free": [], "gateway": ["ws"], "trader": ["gateway"], "ws": ["trader"]}
    assert find_cycle(graph) == ["gateway", "ws", "trader", "gateway"]
    assert dependency_problems(graph) == [
        DependencyProblem("gateway", 0, "dependency cycle: gateway -> ws -> trader -> gateway")
    ]


def test_cycle_reached_from_outside_is_reported_without_the_path_to_it():
    graph = {"entry": ["a"], "a": ["b"], "b": ["a"]}
    assert find_cycle(graph) == ["a", "b", "a"]


def test_no_cycle_in_a_deep_chain():
    graph = {f"s{i}": [f"s{i + 1}"] for i in range(2000)}
    graph["s2000"] = []
    assert find_cycle(graph) is None
    assert start_order(graph)[0] == "s2000"


def test_start_order_refuses_a_graph_with_problems():
    with pytest.raises(ValueError, match="dependency cycle: a -> b -> a"):
        start_order({"a": ["b"], "b": ["a"]})
