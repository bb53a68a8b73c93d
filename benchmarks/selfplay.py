"""Self-play throughput: rollout and learner frames/s for a GRU 256x2 policy at N games,
with the wall-time split between the simulator, embedding, policy inference and
learning; plus PPO's CartPole-v1 check (return and seconds to solve).

    python benchmarks/selfplay.py [--games 256 1024] [--steps 64] [--cartpole]
                                  [--json benchmarks/results/selfplay.json]

Every figure sits beside its baseline in the same run: the rollout's frames/s beside
the simulator's own frames/s with no policy (what rollouts would reach if inference
were free), and the learner's frames/s beside the rollout's (the goal: learning, not
the environment or inference, bounds the loop: env + inference <= 1/3 of wall time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import RESULTS, machine, write_json


def _policy(hidden: int, layers: int):
    from workbench.embed.config import EmbedConfig
    from workbench.models.policy import Policy, PolicyConfig

    torch.manual_seed(0)
    return Policy(EmbedConfig(), PolicyConfig(backbone={"name": "gru", "hidden_size": hidden, "num_layers": layers}))


def bench_loop(games: int, steps: int, hidden: int, layers: int, characters, stage: str) -> dict:
    """One rollout of ``steps`` frames at N = ``games`` (teacher as the opponent), one
    PPO update on it, and the bare simulator for the same frames."""
    from workbench.selfplay.config import PPOConfig, RolloutConfig, SelfPlayConfig
    from workbench.selfplay.env import make_game_env
    from workbench.selfplay.learner import Learner
    from workbench.selfplay.rollout import Arena

    policy = _policy(hidden, layers)
    cfg = SelfPlayConfig(
        init="-",
        characters=list(characters),
        stage=stage,
        rollout=RolloutConfig(num_games=games, steps=steps),
        ppo=PPOConfig(update_epochs=2),
    )
    learner = Learner("main-0", "main", policy, cfg.ppo, games)
    arena = Arena(make_game_env(cfg, games, 0), "main-0", learner.actor, 0, "both", 0)
    opponents = {"main-0": learner.actor, "teacher": learner.teacher}
    arena.collect(learner.actor, opponents, {"teacher": 1.0}, 2, 0)  # warm-up
    start = time.perf_counter()
    rollout, _, stats = arena.collect(learner.actor, opponents, {"teacher": 1.0}, steps, 1)
    rollout_s = time.perf_counter() - start
    start = time.perf_counter()
    learner.update(rollout, torch.Generator().manual_seed(0))
    learn_s = time.perf_counter() - start

    env = make_game_env(cfg, games, 1)
    env.reset()
    idle = np.zeros((games, 2, 13), np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(idle)
    bare_s = time.perf_counter() - start
    frames = games * steps
    loop_s = rollout_s + learn_s
    return {
        "games": games,
        "steps": steps,
        "frames": frames,
        "rollout_frames_per_s": frames / rollout_s,
        "learner_frames_per_s": frames / learn_s,
        "loop_frames_per_s": frames / loop_s,
        "bare_env_frames_per_s": frames / bare_s,
        "share_env": stats.env_s / loop_s,
        "share_embed": stats.embed_s / loop_s,
        "share_inference": stats.policy_s / loop_s,
        "share_learn": learn_s / loop_s,
        "rollout_vs_bare_env": (frames / rollout_s) / (frames / bare_s),
    }


def bench_cartpole() -> dict:
    from workbench.selfplay.cartpole import CartPoleConfig, train_cartpole

    start = time.perf_counter()
    _, summary = train_cartpole(CartPoleConfig())
    return {
        "eval_mean_return": summary["eval_mean_return"],
        "eval_min_return": summary["eval_min_return"],
        "episodes": summary["eval_episodes"],
        "train_steps": summary["train_steps"],
        "seconds": round(time.perf_counter() - start, 1),
        "target": 475,
        "random_policy_return": 22.0,
    }  # CartPole-v1's mean return under uniform actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--characters", default="fox,fox")
    parser.add_argument("--stage", default="fd")
    parser.add_argument("--cartpole", action="store_true", help="also train PPO on CartPole-v1")
    parser.add_argument("--no-loop", action="store_true", help="skip the self-play loop figures")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--json", default=str(RESULTS / "selfplay.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = open("/proc/loadavg").read().split()[:3] if __import__("os").path.exists("/proc/loadavg") else []
    result = {
        "machine": machine(
            torch_threads=torch.get_num_threads(), load=load, device="cuda" if torch.cuda.is_available() else "cpu"
        ),
        "policy": f"gru {args.hidden}x{args.layers}",
        "loop": [],
        "cartpole": None,
    }
    if not args.no_loop:
        print(
            f"{'N':>6} {'rollout f/s':>12} {'learner f/s':>12} {'bare env f/s':>13} "
            f"{'env':>6} {'embed':>6} {'infer':>6} {'learn':>6}"
        )
        for games in args.games:
            row = bench_loop(games, args.steps, args.hidden, args.layers, args.characters.split(","), args.stage)
            result["loop"].append(row)
            print(
                f"{games:>6} {row['rollout_frames_per_s']:>12,.0f} {row['learner_frames_per_s']:>12,.0f} "
                f"{row['bare_env_frames_per_s']:>13,.0f} {row['share_env']:>6.0%} {row['share_embed']:>6.0%} "
                f"{row['share_inference']:>6.0%} {row['share_learn']:>6.0%}"
            )
    if args.cartpole:
        result["cartpole"] = bench_cartpole()
        c = result["cartpole"]
        print(
            f"CartPole-v1: mean return {c['eval_mean_return']:.1f} over {c['episodes']} episodes "
            f"(target {c['target']}, random ~{c['random_policy_return']:.0f}) after {c['train_steps']:,} "
            f"steps in {c['seconds']} s"
        )
    write_json(args.json, result)


if __name__ == "__main__":
    main()
