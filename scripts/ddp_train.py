"""Chapter 15: data-parallel training (数据并行) of an nnlib MLP carried to PyTorch, with torch.distributed.

    python scripts/ddp_train.py --world-size 2 --steps 20 --out params.npz   # 2 processes, gloo, CPU
    python scripts/ddp_train.py --world-size 1 --steps 20 --out ref.npz      # the same on one process

Every process builds the same model (nnlib, seed 0, carried over with
``nnlib.interop.to_torch``) and the same batches. Each step, process ``r`` of ``W``
computes the mean loss on its ``1/W`` of the batch rows and its gradients; then
``all_reduce`` adds the gradients of all processes and each divides by ``W``: every
process now holds the gradient of the mean loss over the *whole* batch, takes the
same Adam step, and the copies of the model stay identical. ``--ddp`` uses
``torch.nn.parallel.DistributedDataParallel`` instead of the hand-written all-reduce
(it does the same, overlapping communication with the backward pass).

The launcher starts ``W`` copies of this script with ``subprocess`` (ranks 0..W-1);
they talk over the loopback interface only (MASTER_ADDR=127.0.0.1) on a free port
picked at start. Each process uses ``--threads`` torch threads (default 1).
Rank 0 writes the final parameters (``--out``, an .npz, written to a temporary file
and renamed) and prints one JSON line: ms per step (median of the timed steps after
``--warmup``), world size, threads, final loss.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data(rows: int):
    """The first ``rows`` 8x8 digits (pixels / 16, float32) and their labels 0-9."""
    import numpy as np

    from nnlib.datasets import load_digits

    X, y = load_digits()
    return (X[:rows] / 16.0).astype(np.float32), y[:rows].astype(np.int64)


def make_model(hidden: int):
    """A seeded nnlib MLP 64-hidden-hidden-10 (logits), as a torch module."""
    import nnlib
    from nnlib.interop import to_torch
    from nnlib.layers import Dense
    from nnlib.models import Sequential

    nnlib.manual_seed(0)
    model = Sequential([Dense(hidden, activation="relu", input_shape=(64,)), Dense(hidden, activation="relu"),
                        Dense(10)])
    return to_torch(model)


def train(rank: int, world: int, args, port: int) -> None:
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn.functional as TF

    torch.set_num_threads(args.threads)
    if world > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
    X, y = make_data(args.rows)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    rows = len(X) // world                                   # this process's shard of every batch
    mine = slice(rank * rows, (rank + 1) * rows)
    module = make_model(args.hidden)
    net = module
    if args.ddp and world > 1:
        net = torch.nn.parallel.DistributedDataParallel(module)
    opt = torch.optim.Adam(module.parameters(), lr=args.lr)
    times, loss = [], None
    for step in range(args.steps):
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        opt.zero_grad()
        loss = TF.cross_entropy(net(X[mine]), y[mine])     # mean over this shard
        loss.backward()
        if world > 1 and not args.ddp:
            # one all-reduce for all gradients (a "bucket"): sum over processes, then the mean
            grads = [p.grad for p in module.parameters()]
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat /= world
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
        opt.step()
        times.append(time.perf_counter() - start)
    if world > 1:                                          # the loss over the whole batch, for the log
        total = loss.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        loss = total / world
    if rank == 0:
        if args.out:
            tmp = args.out + ".tmp.npz"
            np.savez(tmp, **{name: p.detach().numpy() for name, p in module.named_parameters()})
            os.replace(tmp, args.out)
        timed = sorted(times[args.warmup:]) or sorted(times)
        print(json.dumps({"world_size": world, "threads": args.threads, "ddp": bool(args.ddp),
                          "ms_per_step": 1000 * timed[len(timed) // 2], "final_loss": float(loss.detach()),
                          "steps": args.steps}), flush=True)
    if world > 1:
        dist.barrier()              # nobody tears the group down while a peer still talks to it
        dist.destroy_process_group()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1792, help="batch rows (the first N digits), divisible by W")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--ddp", action="store_true", help="use DistributedDataParallel")
    parser.add_argument("--out", default="")
    parser.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the launcher
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows % args.world_size:
        parser.error(f"--rows {args.rows} must be divisible by --world-size {args.world_size}")
    if args.world_size == 1 or args.rank is not None:
        train(args.rank or 0, args.world_size, args, args.port)
        return 0
    return launch(args.world_size, argv if argv is not None else sys.argv[1:])


def launch(world: int, argv: list) -> int:
    """Start ``world`` copies of this script (ranks 0..world-1) on a free loopback port; wait for all."""
    import subprocess

    port = free_port()
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv, "--rank", str(rank),
                               "--port", str(port)]) for rank in range(world)]
    codes = [p.wait() for p in procs]
    if any(codes):
        print(f"ddp_train: exit codes {codes}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
