"""``make emulator``: a persistent local AWS endpoint for ``make invoke`` and ``sam local invoke``.

    python -m watchdogs_local.server [start] [--port 5555]   # foreground; Ctrl-C stops it
    python -m watchdogs_local.server stop                    # stops the one the pid file names
    python -m watchdogs_local.server seed events/<sample>.json

``start`` runs the embedded emulator (moto, with the harness's extensions) on a fixed port, bound to ``0.0.0.0`` so
Lambda containers reach it through the docker bridge (``172.17.0.1``, as ``env/local.json`` says), deploys
``template.yaml`` as the stack ``env/local.json`` names, provisions the runbook's lakehouse and prints the
``make invoke`` and ``sam local invoke`` line of every sample. Its state file (``.emulator/emulator.json``: pid,
port) lets ``make invoke`` reuse it and ``stop`` end it.

Before each invocation the sample's resources are re-seeded on fresh state (``seed``: everything forgotten, the
stack redeployed under the same names, the sample's resources put into the state it describes; about 2 s).
``make invoke`` does that itself; for ``sam local invoke`` the printed line starts with ``make seed``. The control
path is ``POST /_watchdogs/seed`` on the emulator's own port, answered only from loopback. While it runs, the
emulator's terminal prints each alert its subscriber receives and each incident an invocation writes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs_local.emulator import ROOT, Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from watchdogs_local.samples import Observer

DEFAULT_PORT = 5555
#: where the running emulator says where it is (pid, port); EMULATOR_STATE_FILE moves it (tests)
STATE_FILE = Path(os.environ.get("EMULATOR_STATE_FILE") or ROOT / ".emulator" / "emulator.json")
CONTROL = "/_watchdogs/"
DOCKER_HOST_IP = "172.17.0.1"


# ------------------------------------------------------------------------------------------------ client side
def running() -> dict[str, Any] | None:
    """The emulator ``make emulator`` started, if it is up and answering (its state file, checked live)."""
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        with urllib.request.urlopen(f"{state['endpoint']}{CONTROL}status", timeout=2) as response:  # noqa: S310
            state.update(json.loads(response.read()))
    except (OSError, ValueError, KeyError):
        return None
    return state


def request_seed(endpoint: str, sample: str | None) -> dict[str, Any]:
    """Ask the running emulator for fresh state seeded for ``sample`` (None: the bare lakehouse)."""
    body = json.dumps({"sample": sample}).encode()
    request = urllib.request.Request(f"{endpoint}{CONTROL}seed", data=body, method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the emulator could not seed {sample}: {exc.read().decode()[:500]}") from exc
    return answer


# ------------------------------------------------------------------------------------------------ server side
class Control:
    """The emulator's control path (seed, status) and its console watcher."""

    def __init__(self, emulator: Emulator, say: Callable[[str], None] = print) -> None:
        self.emulator = emulator
        self.say = say
        self.lock = threading.Lock()
        self.observer: Observer | None = None
        self.seeded: str | None = None
        self._stop = threading.Event()

    def seed(self, sample_name: str | None) -> dict[str, Any]:
        from watchdogs_local.samples import CONSOLE_SUBSCRIBER, Observer, load_samples, prepare  # noqa: PLC0415

        sample = load_samples().get(sample_name) if sample_name else None
        if sample_name and sample is None:
            raise KeyError(f"no sample {sample_name!r} in events/expected/index.json")
        with self.lock:
            self.observer = None
            started = time.monotonic()
            deployment = prepare(self.emulator, sample)
            self.observer = Observer(self.emulator, deployment, CONSOLE_SUBSCRIBER).start()
            self.seeded = sample_name
        took = time.monotonic() - started
        if sample is not None:
            e = sample.expected
            self.say(
                f"seeded   {sample.name} in {took:.1f} s; expect {e.outcome}"
                f" ({e.classification or 'no incident'}, {e.action or 'no action'})"
            )
        return {"sample": sample_name, "stack": deployment.stack_name, "seconds": round(took, 2)}

    def watch(self, every: float = 1.0) -> None:
        """Print what lands: alerts the subscriber receives, incidents an invocation writes."""
        while not self._stop.wait(every):
            with self.lock:
                observer = self.observer
                if observer is None:
                    continue
                try:
                    for line in observer.news():
                        self.say(line)
                except Exception as exc:
                    self.say(f"watcher: {exc}")

    def stop(self) -> None:
        self._stop.set()

    def wsgi(self, app: Any) -> Any:
        """Wrap moto's WSGI app: ``/_watchdogs/*`` from loopback is ours, everything else is moto's."""

        def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            path = str(environ.get("PATH_INFO", ""))
            if not path.startswith(CONTROL):
                return app(environ, start_response)  # type: ignore[no-any-return]
            status, answer = self._control(environ, path.removeprefix(CONTROL))
            body = json.dumps(answer).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        return application

    def _control(self, environ: dict[str, Any], action: str) -> tuple[str, dict[str, Any]]:
        if environ.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
            return "403 Forbidden", {"error": "the control path answers loopback only"}
        if action == "status":
            return "200 OK", {"pid": os.getpid(), "seeded": self.seeded}
        if action == "seed" and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                request = json.loads(environ["wsgi.input"].read(length) or b"{}")
                return "200 OK", self.seed(request.get("sample"))
            except Exception as exc:
                return "500 Internal Server Error", {"error": f"{type(exc).__name__}: {exc}"}
        return "404 Not Found", {"error": f"no control action {action!r}"}


def _server_class(control: Control) -> type:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # noqa: PLC0415

    class ControlledMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = control.wsgi(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return ControlledMotoServer


def serve(port: int, host: str = "0.0.0.0") -> int:  # noqa: S104 - Lambda containers reach it over the bridge
    from watchdogs_local.local_lines import banner, env_local_mismatch  # noqa: PLC0415

    if running() is not None:
        print(f"emulator: one is already running ({STATE_FILE}); `make emulator-stop` first", file=sys.stderr)
        return 1
    if not _port_free(host, port):
        print(f"emulator: port {port} is in use; pick another: make emulator EMULATOR_PORT=<port>", file=sys.stderr)
        return 1
    emulator = Emulator(host=host, port=port)
    control = Control(emulator)
    emulator.server_class = _server_class(control)
    started = time.monotonic()
    print(f"emulator: starting moto on {host}:{port} and deploying template.yaml ...", flush=True)
    emulator.start()
    try:
        answer = control.seed(None)
        endpoint = f"http://127.0.0.1:{port}"
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps({"pid": os.getpid(), "port": port, "endpoint": endpoint}), encoding="utf-8")
        assert emulator.deployment is not None
        for line in banner(emulator.deployment, port, time.monotonic() - started, answer["stack"]):
            print(line, flush=True)
        for problem in env_local_mismatch(emulator.deployment, port):
            print(f"WARNING: {problem}", flush=True)
        threading.Thread(target=control.watch, daemon=True, name="emulator-watch").start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        print("\nemulator: stopping", flush=True)
    finally:
        control.stop()
        emulator.stop()
        _forget(os.getpid())
    print("emulator: stopped", flush=True)
    return 0


def _port_free(host: str, port: int) -> bool:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _forget(pid: int) -> None:
    try:
        if json.loads(STATE_FILE.read_text(encoding="utf-8")).get("pid") == pid:
            STATE_FILE.unlink()
    except (OSError, ValueError):
        pass


def stop_running() -> int:
    try:
        state = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print("emulator: none running (no .emulator/emulator.json)")
        return 0
    pid = int(state["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        STATE_FILE.unlink(missing_ok=True)
        print(f"emulator: pid {pid} was already gone; state file removed")
        return 0
    for _ in range(50):
        time.sleep(0.2)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone = True
        else:
            gone = not STATE_FILE.exists()  # it removes its state file last (a zombie still answers kill 0)
        if gone:
            print(f"emulator: stopped (pid {pid})")
            return 0
    print(f"emulator: pid {pid} did not stop within 10 s", file=sys.stderr)
    return 1


def seed_command(event: str) -> int:
    state = running()
    if state is None:
        print("seed: no emulator running: start one with `make emulator` (in another terminal)", file=sys.stderr)
        return 1
    name = Path(event).name.removesuffix(".json")
    answer = request_seed(state["endpoint"], name)
    print(f"seed: {name} seeded on fresh state in {answer['seconds']} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="watchdogs-emulator", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("command", nargs="?", default="start", choices=("start", "stop", "seed", "status"))
    parser.add_argument("event", nargs="?", help="seed: the sample event file")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    if args.command == "stop":
        return stop_running()
    if args.command == "seed":
        if not args.event:
            parser.error("seed needs an event file")
        return seed_command(args.event)
    if args.command == "status":
        state = running()
        print(json.dumps(state) if state else "emulator: not running")
        return 0 if state else 1
    return serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
