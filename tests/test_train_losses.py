"""Every loss option changes the loss the way it should."""

import torch

from workbench.embed import EmbedConfig
from workbench.models import Policy, PolicyConfig
from workbench.models.heads import components_of
from workbench.train.config import LossConfig
from workbench.train.losses import BCLoss, class_balance_weights, joint_nll, stick_edge_weights


def setup(seed=0):
    torch.manual_seed(seed)
    policy = Policy(EmbedConfig(), PolicyConfig(backbone={"name": "mlp", "hidden_size": 16, "num_layers": 1}))
    spec = policy.spec
    targets = torch.stack([torch.randint(0, h.classes, (4, 5)) for h in spec.heads], -1)
    logits = {c.name: torch.randn(4, 5, len(c.heads) if c.binary else c.classes) * 3 for c in components_of(spec)}
    return spec, components_of(spec), logits, targets


def loss_of(cfg: LossConfig, **kw):
    spec, comps, logits, targets = setup()
    return BCLoss(cfg, comps, spec.heads, **kw)(logits, targets)


def test_plain_loss_is_cross_entropy_plus_bce():
    spec, comps, logits, targets = setup()
    total, parts = BCLoss(LossConfig(), comps, spec.heads)(logits, targets)
    ce = torch.nn.functional.cross_entropy(logits["main_x"].flatten(0, 1), targets[..., spec.index["main_x"]].flatten())
    assert torch.isclose(parts["main_x"], ce)
    assert torch.isclose(total, sum(parts.values()))


def test_label_smoothing_focal_and_head_weights():
    base, parts = loss_of(LossConfig())
    smooth, sparts = loss_of(LossConfig(label_smoothing=0.2))
    assert not torch.isclose(base, smooth)
    focal, fparts = loss_of(LossConfig(focal_gamma=2.0))
    assert all(fparts[k] < parts[k] for k in parts)  # focal down-weights every term
    heavy, hparts = loss_of(LossConfig(stick_weight=3.0, button_weight=0.0))
    sticks = sum(v for k, v in parts.items() if k.startswith(("main", "c_")))
    assert torch.isclose(heavy, 3 * sticks + parts["trigger"])


def test_stick_edge_and_class_balance_weights():
    w = stick_edge_weights(17, "stick_axis", None, 2.0)
    assert w[8] == 1.0 and w[0] == w[16] == 3.0
    edge, parts = loss_of(LossConfig(stick_edge_weight=2.0))
    base, bparts = loss_of(LossConfig())
    assert edge > base and torch.isclose(parts["buttons"], bparts["buttons"])
    spec, comps, logits, targets = setup()
    flat = targets.flatten(0, 1)
    weights = class_balance_weights(flat, comps, spec.heads)
    counts = torch.bincount(flat[:, spec.index["main_x"]], minlength=17).float()
    assert torch.isclose((weights["main_x"] * counts / counts.sum()).sum(), torch.tensor(1.0))
    assert weights["main_x"][counts.argmax()] == weights["main_x"].min()
    balanced, _ = loss_of(LossConfig(balance_stick_classes=True), class_weights=weights)
    assert not torch.isclose(balanced, base)
    # both together multiply: the same as passing their product as class weights
    kept = {name: w.clone() for name, w in weights.items()}
    both, _ = loss_of(LossConfig(stick_edge_weight=2.0), class_weights=weights)
    product = {name: w * stick_edge_weights(17, "stick_axis", None, 2.0) for name, w in weights.items()}
    assert torch.isclose(both, loss_of(LossConfig(), class_weights=product)[0])
    assert all(torch.equal(weights[k], kept[k]) for k in kept)  # the caller's weights unchanged


def test_aux_action_loss_and_mask():
    spec, comps, logits, targets = setup()
    aux = torch.randn(4, 5, 400)
    nxt = torch.randint(0, 400, (4, 5))
    cfg = LossConfig(aux_action_lambda=0.5)
    total, parts = BCLoss(cfg, comps, spec.heads)(logits, targets, aux_logits=aux, next_action=nxt)
    plain, _ = BCLoss(LossConfig(), comps, spec.heads)(logits, targets)
    assert torch.isclose(total, plain + 0.5 * parts["aux_action"])
    mask = torch.zeros(4, 5)
    mask[:, :2] = 1
    masked, mparts = BCLoss(LossConfig(), comps, spec.heads)(logits, targets, mask=mask)
    first, _ = BCLoss(LossConfig(), comps, spec.heads)({k: v[:, :2] for k, v in logits.items()}, targets[:, :2])
    assert torch.isclose(masked, first)


def test_change_weight_counts_change_frames_more_and_joint_nll_is_plain():
    spec, comps, logits, targets = setup()
    previous = targets.clone()
    col = spec.index["main_x"]
    previous[0, :, col] = (targets[0, :, col] + 1) % spec.heads[col].classes  # row 0 changed
    plain, parts = BCLoss(LossConfig(), comps, spec.heads)(logits, targets, previous=previous)
    weighted, wparts = BCLoss(LossConfig(change_weight=2.0), comps, spec.heads)(logits, targets, previous=previous)
    ce = torch.nn.functional.cross_entropy(
        logits["main_x"].flatten(0, 1), targets[..., col].flatten(), reduction="none"
    ).view(4, 5)
    expected = (ce * torch.tensor([3.0, 1, 1, 1])[:, None]).mean()
    assert torch.isclose(wparts["main_x"], expected)
    assert torch.isclose(wparts["c_x"], parts["c_x"])  # no change in c_x: same loss
    nll = joint_nll(logits, targets, comps)
    assert nll.shape == (4, 5) and torch.isclose(nll.mean(), plain)  # plain loss = joint NLL
