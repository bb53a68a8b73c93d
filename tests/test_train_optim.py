"""Schedules, EMA, checkpoint averaging."""

import torch

from workbench.train.checkpoint import CheckpointWriter, average_weights, list_checkpoints
from workbench.train.config import TrainConfig
from workbench.train.optim import EMA, lr_factor


def test_schedules():
    total = 100
    const = TrainConfig(schedule="constant")
    assert lr_factor(0, total, const) == lr_factor(99, total, const) == 1.0
    lin = TrainConfig(schedule="linear", min_lr_ratio=0.1)
    assert lr_factor(0, total, lin) == 1.0 and abs(lr_factor(100, total, lin) - 0.1) < 1e-9
    cos = TrainConfig(schedule="cosine", min_lr_ratio=0.0)
    assert lr_factor(0, total, cos) == 1.0 and abs(lr_factor(50, total, cos) - 0.5) < 1e-9
    assert abs(lr_factor(100, total, cos)) < 1e-9
    warm = TrainConfig(schedule="warmup_cosine", warmup_steps=10, min_lr_ratio=0.0)
    assert lr_factor(0, total, warm) == 0.1 and lr_factor(9, total, warm) == 1.0
    assert lr_factor(10, total, warm) == 1.0 and lr_factor(100, total, warm) < 1e-9


def test_ema_follows_the_formula():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, 0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.state_dict()["weight"], 0.9 * start + 0.1 * (start + 1.0))


def test_averaging_and_keeping_the_last_n_plus_best(tmp_path):
    writer = CheckpointWriter(tmp_path, keep_last=2)
    for step, value in ((1, 1.0), (2, 2.0), (3, 6.0), (4, 7.0)):
        writer.save(step, {"w": torch.full((2,), value)}, {}, {"step": step}, best=(step == 1))
    writer.wait()
    kept = [p.name for p in list_checkpoints(tmp_path)]
    assert kept == ["step-00000001", "step-00000003", "step-00000004"]  # last two plus the best
    avg = average_weights(list_checkpoints(tmp_path)[-2:])
    torch.testing.assert_close(avg["w"], torch.full((2,), 6.5))
    assert not list(tmp_path.glob(".tmp-*"))


def test_warmup_fits_the_budget():
    """A 10-step run with the default 100-step warm-up used to end at a tenth of its
    learning rate; the warm-up is now at most a tenth of the run."""
    import warnings

    from workbench.errors import WorkbenchWarning
    from workbench.train.optim import warmup_steps
    from workbench.train.trainer import MIN_LEARNING_STEPS, planned_steps

    default = TrainConfig()
    assert warmup_steps(10, default) == 1 and warmup_steps(300, default) == 30
    assert warmup_steps(5000, default) == default.warmup_steps == 100
    peak = max(lr_factor(step, 300, default) for step in range(300))
    assert peak == 1.0 and lr_factor(30, 300, default) > 0.99
    # a budget in epochs runs at least min_steps; an explicit tiny one says it is too small
    assert planned_steps(default, batches_per_epoch=10) == default.min_steps == 300
    assert planned_steps(TrainConfig(epochs=50), batches_per_epoch=10) == 500
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert planned_steps(TrainConfig(max_steps=20), batches_per_epoch=10) == 20
        assert planned_steps(TrainConfig(max_steps=MIN_LEARNING_STEPS), batches_per_epoch=10) == 100
    messages = [str(w.message) for w in caught if issubclass(w.category, WorkbenchWarning)]
    assert len(messages) == 1 and "20 optimizer steps are too few to learn" in messages[0]
