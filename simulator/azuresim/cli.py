"""Command line: `azuresim serve ...` and `azuresim env ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from azuresim.server import Simulator, env_for, load_world_file
from azuresim.world import World


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="azuresim", description="Azure Resource Manager + Entra ID simulator")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTPS simulator")
    s.add_argument("--port", type=int, default=0, help="port to listen on (0 = pick a free one)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--seed", help="world file (YAML or JSON)")
    s.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    s.add_argument("--state-dir", required=True, help="where ca.pem and ready.json are written")
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.add_argument("--log-level", default="WARNING")
    e = sub.add_parser("env", help="print the AZURE_* variables for the first tenant/principal/subscription")
    e.add_argument("--state-dir", required=True)
    e.add_argument("--seed", help="world file; default: ask the running simulator (GET /_sim/env)")
    e.add_argument("--format", choices=("dotenv", "export", "json"), default="dotenv")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(
            level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        return asyncio.run(_serve(args))
    return _env(args)


async def _serve(args: argparse.Namespace) -> int:
    world = load_world_file(args.seed) if args.seed else None
    sim = Simulator(args.state_dir, world, args.time_scale, args.host, args.port, args.access_log)
    url = await sim.start()
    print(f"azuresim ready {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()
    return 0


def _env(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    ready_file = state / "ready.json"
    if ready_file.exists():
        ready = json.loads(ready_file.read_text())
        url, ca = ready["url"], ready["caFile"]
    else:
        print(f"azuresim env: {ready_file} not found (is the simulator running?)", file=sys.stderr)
        return 1
    if args.seed:
        from azuresim.clock import SimClock

        world = World(SimClock())
        world.seed(load_world_file(args.seed))
        values = env_for(world, url, ca)
    else:
        from azuresim.admin import AdminClient

        values = AdminClient(url, ca).env()
    if args.format == "json":
        print(json.dumps(values, indent=2))
    else:
        prefix = "export " if args.format == "export" else ""
        for k, v in values.items():
            print(f"{prefix}{k}={v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
