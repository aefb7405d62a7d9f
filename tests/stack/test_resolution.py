"""Good stack files resolve to the right order, argv, env, cwd and symbols."""

from __future__ import annotations

import sys

from launcher.stack.durations import parse_duration

THREE_SERVICES = """
    name: robo-trader
    symbols: [aapl]
    services:
      trader:
        command: python -m services.runner_async --symbols {symbols}
        depends_on: [websocket, gateway]
        health:
          notify: {}
      websocket:
        command: python3 -m services.websocket_server --port 8765
        depends_on: [gateway]
        health:
          websocket: {url: "ws://127.0.0.1:8765/"}
          interval: 250ms
      gateway:
        command: [python, -m, services.gateway_sim, --port, 4002]
        ports: [4002]
        health:
          ib_api: {port: 4002}
    """


def test_services_start_after_their_dependencies(stack_files):
    stack = stack_files.load(THREE_SERVICES)
    assert stack.start_order == ("gateway", "websocket", "trader")
    assert stack.stop_order == ("trader", "websocket", "gateway")
    assert list(stack.services) == ["trader", "websocket", "gateway"]  # file order kept


def test_independent_services_keep_file_order(stack_files):
    stack = stack_files.load(
        """
        services:
          c: {command: "true"}
          a: {command: "true", depends_on: [b]}
          b: {command: "true"}
          d: {command: "true"}
        """
    )
    assert stack.start_order == ("c", "b", "a", "d")


def test_commands_become_argv_with_the_running_interpreter(stack_files):
    stack = stack_files.load(THREE_SERVICES)
    assert stack.services["gateway"].argv == (sys.executable, "-m", "services.gateway_sim", "--port", "4002")
    assert stack.services["websocket"].argv == (sys.executable, "-m", "services.websocket_server", "--port", "8765")
    assert stack.services["trader"].argv == (sys.executable, "-m", "services.runner_async", "--symbols", "AAPL")


def test_other_programs_are_left_alone_and_words_split_like_a_shell(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: python3.11 -c 'print("a b")' "two words" plain\\ space
          b:
            command: ["/usr/bin/env", "python", "x y"]
        """
    )
    assert stack.services["a"].argv == ("python3.11", "-c", 'print("a b")', "two words", "plain space")
    assert stack.services["b"].argv == ("/usr/bin/env", "python", "x y")


def test_numbers_in_commands_and_env_keep_their_spelling(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: [sleep, 1.10]
            env: {VERSION: 1.10, ENABLED: yes, MASK: 0x10, EMPTY: }
        """
    )
    assert stack.services["a"].argv == ("sleep", "1.10")
    env = stack.services["a"].env
    assert (env["VERSION"], env["ENABLED"], env["MASK"], env["EMPTY"]) == ("1.10", "yes", "0x10", "")


def test_variables_defaults_and_literal_dollars(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: prog --port ${PORT} --host ${HOST:-127.0.0.1} --mode ${MODE:-paper} --cost $$5 $$${PORT} $HOME
            env:
              ENDPOINT: "ws://${HOST:-localhost}:${PORT}/"
              RAW: "$${NOT_A_VARIABLE}"
        """,
        environ={"PORT": "4002", "MODE": ""},
    )
    service = stack.services["a"]
    assert service.argv == (
        "prog", "--port", "4002", "--host", "127.0.0.1", "--mode", "paper", "--cost", "$5", "$4002", "$HOME",
    )
    assert service.env["ENDPOINT"] == "ws://localhost:4002/"
    assert service.env["RAW"] == "${NOT_A_VARIABLE}"


def test_a_substituted_value_stays_one_argument(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: prog --password ${TWS_PASSWORD} --name "${NAME}"
        """,
        environ={"TWS_PASSWORD": "pa ss'word\"", "NAME": "a b"},
    )
    assert stack.services["a"].argv == ("prog", "--password", "pa ss'word\"", "--name", "a b")


def test_env_is_env_file_then_service_env_then_robostack_values(stack_files):
    stack_files.write(
        """
        # IB credentials
        export IB_USER=robo
        TWS_PASSWORD="s3cret with spaces"
        PORT=4001  # paper
        SHARED=from-file
        """,
        name=".env",
    )
    stack = stack_files.load(
        """
        symbols: [AAPL, NVDA]
        env_file: .env
        services:
          gateway:
            command: prog --port ${PORT} --user ${IB_USER}
            env:
              SHARED: from-service
              PYTHONUNBUFFERED: "0"
        """,
        environ={"PORT": "9999", "HOME": "/home/robo"},
    )
    service = stack.services["gateway"]
    assert service.argv == ("prog", "--port", "4001", "--user", "robo")  # the env_file wins over the environment
    assert service.env == {
        "IB_USER": "robo",
        "TWS_PASSWORD": "s3cret with spaces",
        "PORT": "4001",
        "SHARED": "from-service",
        "ROBOSTACK_SYMBOLS": "AAPL,NVDA",
        "PYTHONUNBUFFERED": "1",
    }
    assert "HOME" not in service.env  # only what the stack adds; the spawner merges over os.environ


def test_symbols_from_the_command_line_override_the_file(stack_files):
    stack = stack_files.load(THREE_SERVICES, symbols=["nvda", "TSLA", "brk.b"])
    assert stack.symbols == ("NVDA", "TSLA", "BRK.B")
    assert stack.services["trader"].argv[-1] == "NVDA,TSLA,BRK.B"
    assert {service.env["ROBOSTACK_SYMBOLS"] for service in stack.services.values()} == {"NVDA,TSLA,BRK.B"}


def test_no_symbols_anywhere_gives_an_empty_list(stack_files):
    stack = stack_files.load("services:\n  a:\n    command: prog {symbols}x\n")
    assert stack.symbols == ()
    assert stack.services["a"].argv == ("prog", "x")
    assert stack.services["a"].env["ROBOSTACK_SYMBOLS"] == ""


def test_paths_are_relative_to_the_stack_file(stack_files):
    (stack_files.root / "deploy" / "work").mkdir(parents=True)
    path = stack_files.write(
        """
        services:
          here:
            command: prog
          there:
            command: prog
            cwd: work
          absolute:
            command: prog
            cwd: /
        """,
        name="deploy/stack.yaml",
    )
    from launcher.stack.loader import load_stack

    stack = load_stack(path, environ={})
    root = (stack_files.root / "deploy").resolve()
    assert stack.path == root / "stack.yaml"
    assert stack.root == root
    assert stack.services["here"].cwd == root
    assert stack.services["there"].cwd == root / "work"
    assert stack.services["absolute"].cwd.as_posix() == "/"


def test_name_defaults_to_the_folder_name(stack_files):
    path = stack_files.write("services:\n  a:\n    command: prog\n", name="my-stack/stack.yaml")
    from launcher.stack.loader import load_stack

    assert load_stack(path, environ={}).name == "my-stack"
    assert stack_files.load(THREE_SERVICES).name == "robo-trader"


def test_external_service_has_no_argv_and_is_probed_only(stack_files):
    stack = stack_files.load(
        """
        services:
          gateway:
            external: true
            cwd: /nonexistent/folder/is/fine/for/a/service/we/never/start
            health:
              ib_api: {port: 4002, session: true, client_id: 998}
          trader:
            command: prog
            depends_on: [gateway]
        """
    )
    gateway = stack.services["gateway"]
    assert gateway.argv is None and gateway.external
    assert gateway.health.kind == "ib_api"
    assert gateway.health.check.client_id == 998
    assert stack.start_order == ("gateway", "trader")
    assert stack.dependents_of("gateway") == ["trader"]


def test_settings_and_defaults_reach_the_spec(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: prog
            restart: no
            stop_signal: int
            stop_grace: 1500ms
            max_restarts: 3 within 5m
            health:
              notify:
              interval: 250ms
        """
    )
    spec = stack.services["a"].spec
    assert spec.restart == "no"
    assert spec.stop_signal == "SIGINT"
    assert spec.stop_grace == 1.5
    assert (spec.max_restarts.count, spec.max_restarts.window) == (3, 300.0)
    assert spec.health.kind == "notify"
    assert spec.health.interval == 0.25
    assert spec.health.timeout == parse_duration("2s")
    assert spec.startup_timeout == 120.0


def test_yaml_merge_keys_share_settings(stack_files):
    stack = stack_files.load(
        """
        services:
          a: &defaults
            command: prog a
            stop_grace: 3s
            stale: [prog]
          b:
            <<: *defaults
            command: prog b
        """
    )
    b = stack.services["b"]
    assert b.argv == ("prog", "b")
    assert (b.spec.stop_grace, b.spec.stale) == (3.0, ["prog"])


def test_exec_probe_command_is_resolved_like_the_service_command(stack_files):
    stack = stack_files.load(
        """
        services:
          a:
            command: prog
            health:
              exec:
                command: python -m probe --port ${PORT:-4002} --symbols {symbols}
        """,
        symbols=["AAPL"],
    )
    assert stack.services["a"].probe_argv == (sys.executable, "-m", "probe", "--port", "4002", "--symbols", "AAPL")
    assert stack_files.load("services:\n  a:\n    command: prog\n").services["a"].probe_argv is None
