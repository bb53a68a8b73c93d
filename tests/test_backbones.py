"""Tests for workbench.models.backbones: one contract over the whole registry
(step == forward, chunked state, gradients, causality), the scans against their
sequential references, mamba-ssm checkpoint compatibility, the attention window, the
registry and configs, and (on GPU) mamba-ssm's kernels against the pure path."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.export.graph_signature import InputKind

from workbench.models.backbones import (
    BACKBONES,
    BackboneConfigError,
    InputColumns,
    UnknownBackboneError,
    backbone_config_class,
    build_backbone,
    config_from_dict,
)
from workbench.models.backbones import mamba as mamba_module
from workbench.models.backbones.layers import ExportForms, onnx_export_forms
from workbench.models.backbones.mamba import MambaBackbone, MambaMixer
from workbench.models.backbones.mamba2 import Mamba2Mixer
from workbench.models.backbones.dplr_ops import dplr_chunked, dplr_sequential, fla_available, unit_lower_inverse
from workbench.models.backbones.s5 import hippo_n_eigen, s5_parallel, s5_sequential
from workbench.models.backbones.ssm_ops import (
    entering_state_contribution,
    kernels_available,
    selective_scan_chunked,
    selective_scan_sequential,
    ssd_chunked,
    ssd_sequential,
)

INPUT_DIM, BATCH, SEQ_LEN, SPLIT = 6, 2, 9, 4
WINDOW = 3  # smaller than SEQ_LEN so the key/value caches wrap around
# Tiny configs: every option that changes the state layout is exercised.
SMALL = {
    "mlp": dict(hidden_size=16, num_layers=2),
    "lstm": dict(hidden_size=16, num_layers=2),
    "gru": dict(hidden_size=16, num_layers=2),
    "attention": dict(hidden_size=16, num_layers=2, num_heads=2, window=WINDOW),
    "mamba": dict(hidden_size=16, num_layers=2, d_state=4, scan_chunk=3),
    "mamba2": dict(hidden_size=16, num_layers=2, d_state=8, headdim=8, chunk_size=4),
    "jamba": dict(hidden_size=16, num_layers=3, num_heads=2, window=WINDOW, d_state=4, attention_every=2),
    "zamba": dict(hidden_size=16, num_layers=3, num_heads=2, window=WINDOW, d_state=4, shared_attention_every=1),
    "gla": dict(hidden_size=16, num_layers=2, num_heads=2, gate_rank=4, chunk_size=4),
    "rwkv7": dict(hidden_size=16, num_layers=2, head_size=8, lora_rank=4, chunk_size=4),
    "dt": dict(hidden_size=16, num_layers=2, num_heads=2, window=WINDOW),
    "s5": dict(hidden_size=16, num_layers=2, d_state=4),
}
TOLERANCE = {torch.float32: dict(atol=2e-5, rtol=1e-4), torch.float64: dict(atol=1e-10, rtol=1e-9)}


def test_small_configs_cover_the_registry():
    assert (
        set(SMALL)
        == set(BACKBONES)
        == {"mlp", "lstm", "gru", "attention", "mamba", "mamba2", "jamba", "zamba", "gla", "rwkv7", "s5", "dt"}
    )


def make(name: str, dtype: torch.dtype = torch.float32, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_backbone(name, INPUT_DIM, **{**SMALL[name], **overrides}).to(dtype).eval()


def unroll(model, x: torch.Tensor, state):
    """T calls of step: x (B, T, D) -> y (B, T, H), final state."""
    ys = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, dim=1), state


def assert_states_close(a, b, **tol):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype == torch.bool:
            assert torch.equal(a[key], b[key]), key
        else:
            torch.testing.assert_close(a[key], b[key], **tol, msg=key)


# ---------------------------------------------------------------- the registry contract


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_step_equals_forward(name, dtype):
    model = make(name, dtype)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM, dtype=dtype)
    tol = TOLERANCE[dtype]
    with torch.no_grad():
        y, state = model(x)
        assert y.shape == (BATCH, SEQ_LEN, model.output_dim) and y.dtype == dtype
        y_steps, state_steps = unroll(model, x, model.initial_state(BATCH))
        torch.testing.assert_close(y_steps, y, **tol)
        assert_states_close(state_steps, state, **tol)
        # The state carries across chunks: forward(x[:, :4]) then forward(x[:, 4:], state).
        y_first, mid = model(x[:, :SPLIT])
        y_second, state_chunks = model(x[:, SPLIT:], mid)
        torch.testing.assert_close(torch.cat([y_first, y_second], dim=1), y, **tol)
        assert_states_close(state_chunks, state, **tol)
        # ... and steps can pick up from a forward's state.
        y_mixed, _ = unroll(model, x[:, SPLIT:], mid)
        torch.testing.assert_close(y_mixed, y[:, SPLIT:], **tol)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("mamba2", dict(ngroups=2, d_state=4)),
        ("mamba", dict(dt_rank=3, d_conv=2)),
        ("mlp", dict(residual=False, layer_norm=False)),
        ("zamba", dict(shared_attention_every=2)),
        ("attention", dict(opponent_attention=True)),
    ],
)
def test_step_equals_forward_for_config_variants(name, overrides):
    model = make(name, torch.float64, **overrides)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM, dtype=torch.float64)
    with torch.no_grad():
        y, state = model(x)
        y_steps, state_steps = unroll(model, x, model.initial_state(BATCH))
    torch.testing.assert_close(y_steps, y, **TOLERANCE[torch.float64])
    assert_states_close(state_steps, state, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_state_is_flat_fixed_shape_and_not_mutated(name):
    """Deployment exports step to ONNX: named, batch-first, fixed-shape state tensors."""
    model = make(name)
    state = model.initial_state(BATCH)
    shapes = {key: (value.shape, value.dtype) for key, value in state.items()}
    for key, value in state.items():
        assert key.isidentifier(), key
        assert value.shape[0] == BATCH, key
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM)
    with torch.no_grad():
        for t in range(SEQ_LEN):
            before = {key: (value.clone(), value._version) for key, value in state.items()}
            _, new_state = model.step(x[:, t], state)
            for key, (value, version) in before.items():  # step is functional
                assert torch.equal(state[key], value) and state[key]._version == version, key
            assert {k: (v.shape, v.dtype) for k, v in new_state.items()} == shapes
            state = new_state
        _, forward_state = model(x)
    assert {k: (v.shape, v.dtype) for k, v in forward_state.items()} == shapes


class _StepAsModule(torch.nn.Module):
    """step with the state dict flattened to positional tensors, as ONNX export sees it."""

    def __init__(self, backbone, keys):
        super().__init__()
        self.backbone, self.keys = backbone, keys

    def forward(self, x, *states):
        y, new_state = self.backbone.step(x, dict(zip(self.keys, states)))
        return (y, *(new_state[key] for key in self.keys))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_step_exports_as_a_static_graph(name):
    """torch.export fails on data-dependent Python control flow; the exported graph must
    read every parameter (not a frozen copy) and the state inputs (not the example)."""
    model = make(name)
    state = model.initial_state(BATCH)
    keys = list(state)
    wrapper = _StepAsModule(model, keys)
    with torch.no_grad():
        exported = torch.export.export(wrapper, (torch.randn(BATCH, INPUT_DIM), *state.values()))
        used = {node.name for node in exported.graph.nodes if node.op == "placeholder" and node.users}
        param_specs = [s for s in exported.graph_signature.input_specs if s.kind == InputKind.PARAMETER]
        assert len(param_specs) == len(list(model.parameters()))
        for spec in param_specs:
            assert spec.arg.name in used, f"{spec.target} is not read by the exported step"
        x = torch.randn(BATCH, INPUT_DIM)
        _, state = model(torch.randn(BATCH, SEQ_LEN, INPUT_DIM))  # a non-trivial state
        inputs = [state[key] for key in keys]
        got = exported.module()(x, *inputs)
        want = wrapper(x, *inputs)
    for key, a, b in zip(["y", *keys], got, want):
        torch.testing.assert_close(a, b, msg=key)


@pytest.mark.parametrize("name", ["mamba", "mamba2", "jamba", "zamba", "gla"])
def test_the_onnx_export_forms_compute_the_eager_step(name):
    """What a step runs while exporting to ONNX (the RMS norm onnxruntime fuses, MatMul
    outer products and SSD read-out) gives the eager step's numbers."""
    model = make(name)
    with torch.no_grad():
        _, state = model(torch.randn(BATCH, SEQ_LEN, INPUT_DIM))  # a non-trivial state
        x = torch.randn(BATCH, INPUT_DIM)
        want_y, want = model.step(x, state)
        with onnx_export_forms():
            assert ExportForms.onnx
            got_y, got = model.step(x, state)
        assert not ExportForms.onnx
    torch.testing.assert_close(got_y, want_y, **TOLERANCE[torch.float32])
    for key in want:
        torch.testing.assert_close(got[key], want[key], **TOLERANCE[torch.float32], msg=key)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_parameter_gets_a_gradient(name):
    model = make(name).train()
    x1 = torch.randn(BATCH, SPLIT, INPUT_DIM, requires_grad=True)
    x2 = torch.randn(BATCH, SEQ_LEN - SPLIT, INPUT_DIM)
    _, state = model(x1)
    y, _ = model(x2, state)  # gradients also flow back through the carried state
    # A random readout: sum(y) alone is blind to LayerNorm/RMSNorm outputs' directions.
    (y * torch.randn_like(y)).sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name
    if name != "mlp":  # the MLP carries nothing between chunks
        assert x1.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_no_backbone_sees_the_future(name):
    model = make(name)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM)
    t0 = 5
    x_perturbed = x.clone()
    x_perturbed[:, t0] += 1.0
    with torch.no_grad():
        y, _ = model(x)
        y_perturbed, _ = model(x_perturbed)
    torch.testing.assert_close(y_perturbed[:, :t0], y[:, :t0], atol=0, rtol=0)
    assert (y_perturbed[:, t0] - y[:, t0]).abs().max() > 1e-4


# ---------------------------------------------------------------- scans vs references


def selective_scan_inputs(dtype=torch.float64, seq_len=23, d_inner=6, d_state=4):
    torch.manual_seed(1)
    return dict(
        u=torch.randn(BATCH, seq_len, d_inner, dtype=dtype),
        delta=F.softplus(torch.randn(BATCH, seq_len, d_inner, dtype=dtype)),
        A=-torch.rand(d_inner, d_state, dtype=dtype) * 4,
        B=torch.randn(BATCH, seq_len, d_state, dtype=dtype),
        C=torch.randn(BATCH, seq_len, d_state, dtype=dtype),
        D=torch.randn(d_inner, dtype=dtype),
        h0=torch.randn(BATCH, d_inner, d_state, dtype=dtype),
    )


def assert_same_gradients(got: tuple, ref: tuple, inputs: dict) -> None:
    """A fast form's (output, state) and its reference's give the same finite gradients
    for every input, through one random readout of the output plus the state."""
    readout = torch.randn_like(ref[0])
    grads_ref = torch.autograd.grad((ref[0] * readout).sum() + ref[1].sum(), list(inputs.values()))
    grads = torch.autograd.grad((got[0] * readout).sum() + got[1].sum(), list(inputs.values()))
    for name, g, g_ref in zip(inputs, grads, grads_ref):
        assert torch.isfinite(g).all(), name
        torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-8, msg=name)


@pytest.mark.parametrize("chunk", [0, 1, 4, 5, 23, 40])
def test_selective_scan_chunked_matches_sequential(chunk):
    inputs = selective_scan_inputs()
    for tensor in inputs.values():
        tensor.requires_grad_(True)
    y_ref, h_ref = selective_scan_sequential(**inputs)
    y, h = selective_scan_chunked(**inputs, chunk=chunk)
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h, h_ref, atol=1e-12, rtol=1e-10)
    assert_same_gradients((y, h), (y_ref, h_ref), inputs)


def test_entering_state_contribution_continues_a_scan_from_zero():
    """The kernel path adds a carried state after a zero-start scan; check the algebra."""
    inputs = selective_scan_inputs()
    y_ref, h_ref = selective_scan_sequential(**inputs)
    y_zero, h_zero = selective_scan_sequential(**{**inputs, "h0": torch.zeros_like(inputs["h0"])})
    y_extra, h_extra = entering_state_contribution(inputs["delta"], inputs["A"], inputs["C"], inputs["h0"])
    torch.testing.assert_close(y_zero + y_extra, y_ref, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h_zero + h_extra, h_ref, atol=1e-12, rtol=1e-10)


def ssd_inputs(dtype=torch.float64, seq_len=23, heads=3, head_dim=4, d_state=5):
    torch.manual_seed(2)
    return dict(
        x=torch.randn(BATCH, seq_len, heads, head_dim, dtype=dtype),
        dt=F.softplus(torch.randn(BATCH, seq_len, heads, dtype=dtype)),
        A=-torch.rand(heads, dtype=dtype) * 4,
        B=torch.randn(BATCH, seq_len, heads, d_state, dtype=dtype),
        C=torch.randn(BATCH, seq_len, heads, d_state, dtype=dtype),
        D=torch.randn(heads, dtype=dtype),
        h0=torch.randn(BATCH, heads, head_dim, d_state, dtype=dtype),
    )


@pytest.mark.parametrize("chunk", [1, 4, 5, 16, 23, 64])
def test_ssd_chunked_matches_sequential(chunk):
    inputs = ssd_inputs()
    for tensor in inputs.values():
        tensor.requires_grad_(True)
    y_ref, h_ref = ssd_sequential(**inputs)
    y, h = ssd_chunked(**inputs, chunk=chunk)
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h, h_ref, atol=1e-12, rtol=1e-10)
    assert_same_gradients((y, h), (y_ref, h_ref), inputs)


def test_scans_in_float32_stay_close_to_float64():
    inputs = selective_scan_inputs(seq_len=64)
    y64, _ = selective_scan_sequential(**inputs)
    y32, _ = selective_scan_chunked(**{k: v.float() for k, v in inputs.items()})
    torch.testing.assert_close(y32.double(), y64, atol=1e-4, rtol=1e-4)
    inputs = ssd_inputs(seq_len=64)
    y64, _ = ssd_sequential(**inputs)
    y32, _ = ssd_chunked(**{k: v.float() for k, v in inputs.items()}, chunk=16)
    torch.testing.assert_close(y32.double(), y64, atol=1e-4, rtol=1e-4)


def dplr_inputs(low_rank: bool, dtype=torch.float64, seq_len=23, heads=3, key_dim=4, value_dim=5):
    """GLA (no low-rank term) or RWKV-7 (a = -kk, b = kk * lr) recurrence inputs."""
    torch.manual_seed(4)
    shape = (BATCH, seq_len, heads, key_dim)
    kk = F.normalize(torch.randn(shape, dtype=dtype), dim=-1)
    return dict(
        q=torch.randn(shape, dtype=dtype),
        k=torch.randn(shape, dtype=dtype),
        v=torch.randn(BATCH, seq_len, heads, value_dim, dtype=dtype),
        log_w=-F.softplus(torch.randn(shape, dtype=dtype)),
        a=-kk if low_rank else None,
        b=kk * torch.rand(shape, dtype=dtype) if low_rank else None,
        S0=torch.randn(BATCH, heads, key_dim, value_dim, dtype=dtype),
    )


@pytest.mark.parametrize("low_rank", [False, True], ids=["gla", "rwkv7"])
@pytest.mark.parametrize("chunk", [1, 4, 5, 16, 23, 40])
def test_dplr_chunked_matches_sequential(low_rank, chunk):
    """GLA's and RWKV-7's chunked form against the recurrence, values and gradients."""
    inputs = dplr_inputs(low_rank)
    tensors = {name: t.requires_grad_(True) for name, t in inputs.items() if t is not None}
    o_ref, S_ref = dplr_sequential(**inputs)
    o, S = dplr_chunked(**inputs, chunk=chunk)
    torch.testing.assert_close(o, o_ref, atol=1e-11, rtol=1e-9)
    torch.testing.assert_close(S, S_ref, atol=1e-11, rtol=1e-9)
    assert_same_gradients((o, S), (o_ref, S_ref), tensors)


@pytest.mark.parametrize("size", [1, 2, 3, 8, 16, 17])
def test_unit_lower_inverse_matches_a_triangular_solve(size):
    torch.manual_seed(size)
    strict = torch.randn(2, size, size, dtype=torch.float64).tril(-1) * 0.5
    eye = torch.eye(size, dtype=torch.float64)
    expected = torch.linalg.solve_triangular(eye - strict, eye.expand(2, size, size), upper=False)
    torch.testing.assert_close(unit_lower_inverse(strict), expected, atol=1e-12, rtol=1e-10)


def test_dplr_low_rank_term_is_the_delta_rule():
    """With w = 1, lr = 1 and a unit key, RWKV-7's update replaces what the state stored
    along kk: S^T kk after the write equals the new value (the delta rule)."""
    torch.manual_seed(5)
    kk = F.normalize(torch.randn(1, 1, 1, 4, dtype=torch.float64), dim=-1)
    v = torch.randn(1, 1, 1, 3, dtype=torch.float64)
    S0 = torch.randn(1, 1, 4, 3, dtype=torch.float64)
    _, S = dplr_sequential(q=kk, k=kk, v=v, log_w=torch.zeros_like(kk), a=-kk, b=kk, S0=S0)
    torch.testing.assert_close(S[0, 0].T @ kk[0, 0, 0], v[0, 0, 0])


def test_dplr_chunked_in_float32_stays_close_to_float64():
    inputs = dplr_inputs(True, seq_len=64)
    o64, _ = dplr_sequential(**inputs)
    o32, _ = dplr_chunked(**{k: None if v is None else v.float() for k, v in inputs.items()}, chunk=16)
    torch.testing.assert_close(o32.double(), o64, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("seq_len", [1, 2, 7, 16, 33])
def test_s5_parallel_scan_matches_sequential(seq_len):
    torch.manual_seed(6)
    num_states = 5
    args = dict(
        log_a_re=-torch.rand(num_states, dtype=torch.float64),
        a_angle=torch.randn(num_states, dtype=torch.float64),
        bu_re=torch.randn(BATCH, seq_len, num_states, dtype=torch.float64),
        bu_im=torch.randn(BATCH, seq_len, num_states, dtype=torch.float64),
        x_re=torch.randn(BATCH, num_states, dtype=torch.float64),
        x_im=torch.randn(BATCH, num_states, dtype=torch.float64),
    )
    for tensor in args.values():
        tensor.requires_grad_(True)
    ref = s5_sequential(**args)
    got = s5_parallel(**args)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    assert_same_gradients((got[0], got[1]), (ref[0], ref[1]), args)


def test_s5_init_is_hippo_n_and_stable():
    """Eigenvalues -1/2 + i*omega with distinct frequencies (one of each conjugate pair),
    orthonormal eigenvectors, and a discretised |A_bar| < 1 in the built layer."""
    eigenvalues, vectors = hippo_n_eigen(8)
    torch.testing.assert_close(eigenvalues.real, torch.full((8,), -0.5, dtype=torch.float64))
    assert torch.all(eigenvalues.imag < 0) and len(set(eigenvalues.imag.round(decimals=6).tolist())) == 8
    torch.testing.assert_close(vectors.conj().T @ vectors, torch.eye(8, dtype=torch.complex128))
    model = make("s5")
    log_a_re, _, _, _ = model.layers[0].ssm.discretise()
    assert torch.all(log_a_re < 0)


def test_decision_transformer_tokens_stream_and_read_the_return():
    """With action columns (three tokens a_{t-1}, R_t, s_t per frame) step still equals
    forward; the output depends on the return column, and the action token of frame t
    (the controller *before* t) may change what frame t sees."""
    torch.manual_seed(0)
    columns = InputColumns(return_to_go=5, action=(1, 3))
    model = build_backbone("dt", INPUT_DIM, columns, **SMALL["dt"]).double().eval()
    assert model.tokens == 3 and model.state_index.tolist() == [0, 3, 4]
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM, dtype=torch.float64)
    with torch.no_grad():
        y, state = model(x)
        y_steps, state_steps = unroll(model, x, model.initial_state(BATCH))
        torch.testing.assert_close(y_steps, y, **TOLERANCE[torch.float64])
        assert_states_close(state_steps, state, **TOLERANCE[torch.float64])
        other_return = x.clone()
        other_return[..., 5] += 2.0
        assert (model(other_return)[0] - y).abs().amax(dim=(0, 2)).min() > 1e-4  # every frame
    # a policy without a return feature: a zero return, no column read
    plain = build_backbone("dt", INPUT_DIM, InputColumns(return_to_go=None, action=(3, 5)), **SMALL["dt"])
    assert plain.state_index.tolist() == [0, 1, 2, 5]


def test_opponent_cross_attention_reads_the_opponent_through_keys_only():
    """Queries from the player's columns, keys/values from the opponent's: every new
    parameter learns, and the cross block's output moves with the opponent's frames in
    the window but not with the opponent's frames before it."""
    columns = InputColumns(own=(0, 1, 2), opponent=(3, 4, 5))
    torch.manual_seed(0)
    model = build_backbone("attention", INPUT_DIM, columns, **SMALL["attention"], opponent_attention=True).train()
    assert {"opp_k_cache", "opp_v_cache"} <= set(model.initial_state(BATCH))
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM)
    y, _ = model(x)
    (y * torch.randn_like(y)).sum().backward()
    for name in ("own_proj.weight", "opponent_proj.weight", "cross.q_proj.weight", "cross.kv_proj.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        rope = model.cross.rope_tables(torch.zeros(BATCH, dtype=torch.long), SEQ_LEN, x.dtype)
        cross = lambda inputs: model.cross(model._sides(inputs), None, None, rope)[0]  # noqa: E731
        base = cross(x)
        moved = x.clone()
        moved[:, 2, 3:] += 1.0  # the opponent at frame 2
        change = (cross(moved) - base).abs().amax(dim=(0, 2))
    assert torch.all(change[:2] == 0) and torch.all(change[2 : 2 + WINDOW] > 0) and torch.all(change[2 + WINDOW :] == 0)


def test_policy_splits_own_and_opponent_columns():
    from workbench.embed import EmbedConfig
    from workbench.models import Policy
    from workbench.models.policy import PolicyConfig

    policy = Policy(
        EmbedConfig(),
        PolicyConfig(
            backbone={
                "name": "attention",
                "hidden_size": 16,
                "num_heads": 2,
                "num_layers": 1,
                "opponent_attention": True,
            }
        ),
    )
    columns = policy.input_columns()
    assert len(columns.own) == len(columns.opponent) > 20 and not set(columns.own) & set(columns.opponent)
    assert max(columns.own + columns.opponent) < policy.input_dim
    assert policy.backbone.own_index.tolist() == list(columns.own)


# ---------------------------------------------------------------- mamba-ssm compatibility

# mamba_ssm.modules.mamba_simple.Mamba(d_model=16, d_state=8, d_conv=4, expand=2):
# d_inner = 32, dt_rank = ceil(16 / 16) = 1.
MAMBA_SSM_MIXER_SHAPES = {
    "in_proj.weight": (64, 16),
    "conv1d.weight": (32, 1, 4),
    "conv1d.bias": (32,),
    "x_proj.weight": (17, 32),  # dt_rank + 2 * d_state
    "dt_proj.weight": (32, 1),
    "dt_proj.bias": (32,),
    "A_log": (32, 8),
    "D": (32,),
    "out_proj.weight": (16, 32),
}
# mamba_ssm.modules.mamba2.Mamba2(d_model=16, d_state=8, d_conv=4, expand=2, headdim=8):
# d_inner = 32, nheads = 4, in_proj = 2*32 + 2*8 + 4 = 84, conv_dim = 32 + 2*8 = 48.
MAMBA2_SSM_MIXER_SHAPES = {
    "in_proj.weight": (84, 16),
    "conv1d.weight": (48, 1, 4),
    "conv1d.bias": (48,),
    "dt_bias": (4,),
    "A_log": (4,),
    "D": (4,),
    "norm.weight": (32,),
    "out_proj.weight": (16, 32),
}


def random_state_dict(shapes: dict[str, tuple[int, ...]], prefix: str = "") -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return {prefix + key: torch.randn(shape) * 0.3 for key, shape in shapes.items()}


def mamba_simple_reference(sd: dict[str, torch.Tensor], u: torch.Tensor) -> torch.Tensor:
    """mamba-ssm's Mamba.forward slow path (no causal_conv1d, selective_scan_ref), in its
    (B, D, L) layout, written out independently of our module. u (B, L, H) -> (B, L, H)."""
    d_state, seq_len = sd["A_log"].shape[1], u.shape[1]
    dt_rank = sd["dt_proj.weight"].shape[1]
    xz = sd["in_proj.weight"] @ u.transpose(1, 2)  # (B, 2D, L)
    x, z = xz.chunk(2, dim=1)
    x = F.silu(F.conv1d(x, sd["conv1d.weight"], sd["conv1d.bias"], padding=3, groups=x.shape[1])[..., :seq_len])
    x_dbl = x.transpose(1, 2) @ sd["x_proj.weight"].T  # (B, L, R + 2N)
    dt, B, C = x_dbl.split([dt_rank, d_state, d_state], dim=-1)
    delta = F.softplus((dt @ sd["dt_proj.weight"].T) + sd["dt_proj.bias"]).transpose(1, 2)  # (B, D, L)
    A = -torch.exp(sd["A_log"])
    h, ys = torch.zeros(u.shape[0], x.shape[1], d_state), []
    for t in range(seq_len):  # selective_scan_ref
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * x[:, :, t])[..., None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    y = (torch.stack(ys, dim=2) + sd["D"][:, None] * x) * F.silu(z)  # (B, D, L)
    return y.transpose(1, 2) @ sd["out_proj.weight"].T


def mamba2_reference(sd: dict[str, torch.Tensor], u: torch.Tensor, headdim: int) -> torch.Tensor:
    """mamba-ssm's Mamba2 (ngroups=1, rmsnorm, norm_before_gate=False) as a plain
    recurrence, independent of our module. u (B, L, H) -> (B, L, H)."""
    d_inner, nheads = sd["norm.weight"].shape[0], sd["A_log"].shape[0]
    d_state, seq_len = (sd["conv1d.weight"].shape[0] - d_inner) // 2, u.shape[1]
    z, xBC, dt = (u @ sd["in_proj.weight"].T).split([d_inner, d_inner + 2 * d_state, nheads], dim=-1)
    xBC = F.conv1d(xBC.transpose(1, 2), sd["conv1d.weight"], sd["conv1d.bias"], padding=3, groups=xBC.shape[-1])
    x, B, C = F.silu(xBC[..., :seq_len]).transpose(1, 2).split([d_inner, d_state, d_state], dim=-1)
    dt = F.softplus(dt + sd["dt_bias"])  # (B, L, nheads)
    A = -torch.exp(sd["A_log"])
    x = x.reshape(u.shape[0], seq_len, nheads, headdim)
    h, ys = torch.zeros(u.shape[0], nheads, headdim, d_state), []
    for t in range(seq_len):
        drive = (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, None, None, :]  # (B, nheads, P, N)
        h = torch.exp(dt[:, t] * A)[..., None, None] * h + drive
        ys.append((h * C[:, t, None, None, :]).sum(-1) + sd["D"][:, None] * x[:, t])
    y = torch.stack(ys, dim=1).reshape(u.shape[0], seq_len, d_inner) * F.silu(z)
    y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-5) * sd["norm.weight"]
    return y @ sd["out_proj.weight"].T


def test_mamba_mixer_loads_mamba_ssm_weights_and_matches_its_math():
    mixer = MambaMixer(16, d_state=8, d_conv=4, expand=2)
    assert {k: tuple(v.shape) for k, v in mixer.state_dict().items()} == MAMBA_SSM_MIXER_SHAPES
    sd = random_state_dict(MAMBA_SSM_MIXER_SHAPES)
    sd["A_log"] = torch.log(torch.rand(32, 8) * 3 + 0.5)
    mixer.load_state_dict(sd, strict=True)
    u = torch.randn(BATCH, 11, 16)
    state = mixer.zero_state(BATCH, u.device, u.dtype)
    with torch.no_grad():
        out, _, _ = mixer(u, *state)
    torch.testing.assert_close(out, mamba_simple_reference(sd, u), atol=1e-5, rtol=1e-4)


def test_mamba_backbone_loads_a_mixer_model_checkpoint():
    """mamba-ssm MixerModel keys (layers.{i}.mixer.*, layers.{i}.norm.weight, norm_f.weight)
    plus our input_proj load strictly."""
    model = build_backbone("mamba", INPUT_DIM, hidden_size=16, num_layers=2, d_state=8)
    assert isinstance(model, MambaBackbone)
    checkpoint = {
        "input_proj.weight": torch.randn(16, INPUT_DIM),
        "input_proj.bias": torch.randn(16),
        "norm_f.weight": torch.randn(16),
    }
    for i in range(2):
        checkpoint.update(random_state_dict(MAMBA_SSM_MIXER_SHAPES, f"layers.{i}.mixer."))
        checkpoint[f"layers.{i}.norm.weight"] = torch.randn(16)
    model.load_state_dict(checkpoint, strict=True)


def test_mamba2_mixer_loads_mamba_ssm_weights_and_matches_its_math():
    mixer = Mamba2Mixer(16, d_state=8, d_conv=4, expand=2, headdim=8, chunk_size=4)
    assert {k: tuple(v.shape) for k, v in mixer.state_dict().items()} == MAMBA2_SSM_MIXER_SHAPES
    sd = random_state_dict(MAMBA2_SSM_MIXER_SHAPES)
    mixer.load_state_dict(sd, strict=True)
    u = torch.randn(BATCH, 11, 16)
    with torch.no_grad():
        out, _, _ = mixer(u, *mixer.zero_state(BATCH, u.device, u.dtype))
    torch.testing.assert_close(out, mamba2_reference(sd, u, headdim=8), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- attention window


@pytest.mark.parametrize("num_layers", [1, 2])
def test_attention_window_bounds_what_a_frame_sees(num_layers):
    """Layer by layer a frame sees W frames (itself and W-1 back), so a stack of L layers
    sees L*(W-1) frames back and nothing before; never the future."""
    window, seq_len, t0 = 3, 12, 4
    model = make("attention", num_layers=num_layers, window=window)
    reach = num_layers * (window - 1)
    x = torch.randn(BATCH, seq_len, INPUT_DIM)
    x_perturbed = x.clone()
    x_perturbed[:, t0] += 1.0
    with torch.no_grad():
        change = (model(x_perturbed)[0] - model(x)[0]).abs().amax(dim=(0, 2))  # (T,)
    assert torch.all(change[:t0] == 0)  # the past does not see the future
    assert torch.all(change[t0 : t0 + reach + 1] > 1e-5)  # inside the receptive field
    assert torch.all(change[t0 + reach + 1 :] == 0)  # beyond it: no effect at all


@pytest.mark.parametrize("name", ["attention", "jamba", "zamba"])
def test_attention_weights_are_exposed_over_window_offsets(name):
    model = make(name)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM)
    with torch.no_grad():
        y, state, weights = model(x, return_attention=True)
        y_plain, _ = model(x)
    torch.testing.assert_close(y, y_plain)
    assert weights and all(w.shape == (BATCH, 2, SEQ_LEN, WINDOW) for w in weights)
    for w in weights:
        torch.testing.assert_close(w.sum(-1), torch.ones(BATCH, 2, SEQ_LEN))
        # Offset index w = W-1 is the frame itself; frame t has only t frames before it.
        for t in range(WINDOW - 1):
            assert torch.all(w[:, :, t, : WINDOW - 1 - t] == 0)


@pytest.mark.parametrize("name", ["attention", "dt", "jamba", "zamba"])
def test_attention_depends_only_on_offsets_even_hours_in(name):
    """RoPE turns queries and keys by their absolute position (the ``position`` state),
    so only offsets matter: the same frames from a fresh state and from a fresh state ten
    days of frames in (52 million) give the same features, streamed and in one call, in
    float32. Also checks that the angles keep their precision that far in."""
    model = make(name)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM)
    late = model.initial_state(BATCH)
    late["position"] = late["position"] + 52_000_000
    with torch.no_grad():
        y, state = model(x, model.initial_state(BATCH))
        y_late, state_late = model(x, late)
        y_stream, _ = unroll(model, x, late)
    assert torch.equal(state_late["position"], state["position"] + 52_000_000)
    torch.testing.assert_close(y_late, y, **TOLERANCE[torch.float32])
    torch.testing.assert_close(y_stream, y, **TOLERANCE[torch.float32])


# ---------------------------------------------------------------- registry and configs


def test_unknown_backbone_lists_the_registered_names():
    with pytest.raises(UnknownBackboneError) as info:
        build_backbone("transformer-xl", INPUT_DIM)
    assert isinstance(info.value, ValueError)
    for name in BACKBONES:
        assert name in str(info.value)
    with pytest.raises(UnknownBackboneError):
        backbone_config_class("nope")


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_config_round_trips_through_json(name):
    config = backbone_config_class(name)(**SMALL[name], dropout=0.1)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["name"] == name
    assert type(config).from_dict(data) == config
    assert config_from_dict(data) == config
    model = build_backbone(data, INPUT_DIM)
    assert model.config == config and model.output_dim == config.hidden_size


def test_build_backbone_accepts_name_config_or_dict_with_overrides():
    by_name = build_backbone("gru", INPUT_DIM, hidden_size=8)
    by_config = build_backbone(by_name.config, INPUT_DIM, num_layers=3)
    assert by_name.config.hidden_size == 8 and by_config.config.num_layers == 3
    assert by_config.config.hidden_size == 8


def test_bad_config_fields_raise_typed_errors():
    with pytest.raises(BackboneConfigError, match="valid fields"):
        build_backbone("lstm", INPUT_DIM, window=4)
    with pytest.raises(BackboneConfigError, match="not 'gru'"):
        backbone_config_class("gru").from_dict({"name": "lstm"})
    with pytest.raises(BackboneConfigError):
        build_backbone("attention", INPUT_DIM, hidden_size=18, num_heads=4)
    with pytest.raises(BackboneConfigError):
        build_backbone("jamba", INPUT_DIM, num_layers=2, attention_every=3)


def fake_causal_conv1d_fn(x, weight, bias=None, activation=None):
    """causal_conv1d's reference semantics: x (B, D, L), weight (D, K) -> silu(conv)."""
    out = F.conv1d(x, weight.unsqueeze(1), bias, padding=weight.shape[1] - 1, groups=x.shape[1])
    return F.silu(out[..., : x.shape[-1]])


def fake_selective_scan_fn(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False
):
    """mamba-ssm's selective_scan_ref semantics in its (B, D, L) layout."""
    delta = F.softplus(delta + delta_bias[:, None]) if delta_softplus else delta + delta_bias[:, None]
    h, ys = u.new_zeros(u.shape[0], u.shape[1], A.shape[1]), []
    for t in range(u.shape[-1]):
        drive = (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]  # (B, D, N)
        h = torch.exp(delta[:, :, t, None] * A) * h + drive
        ys.append((h * C[:, None, :, t]).sum(-1))
    out = (torch.stack(ys, dim=-1) + D[:, None] * u) * F.silu(z)
    return (out, h) if return_last_state else out


def test_kernel_path_layout_and_carried_state_on_cpu(monkeypatch):
    """The mamba-ssm code path (transposes, conv prefix, bias, gating, carried state) run
    on CPU with reference implementations of the two kernels in their place."""
    fakes = type(
        "Kernels",
        (),
        {
            "causal_conv1d_fn": staticmethod(fake_causal_conv1d_fn),
            "selective_scan_fn": staticmethod(fake_selective_scan_fn),
        },
    )
    pure = make("mamba", torch.float64, use_kernels=False)
    fused = make("mamba", torch.float64, use_kernels=True)
    fused.load_state_dict(pure.state_dict())
    monkeypatch.setattr(mamba_module, "MAMBA_KERNELS", fakes)
    monkeypatch.setattr(MambaMixer, "_kernels_usable", lambda self, u: self.use_kernels)
    x = torch.randn(BATCH, SEQ_LEN, INPUT_DIM, dtype=torch.float64)
    with torch.no_grad():
        y_pure, state_pure = pure(x)
        y_first, mid = fused(x[:, :2])  # shorter than d_conv - 1 + 1 frames
        y_second, state_fused = fused(x[:, 2:], mid)
    torch.testing.assert_close(torch.cat([y_first, y_second], dim=1), y_pure, **TOLERANCE[torch.float64])
    assert_states_close(state_fused, state_pure, **TOLERANCE[torch.float64])


# ---------------------------------------------------------------- GPU: mamba-ssm kernels


@pytest.mark.gpu
@pytest.mark.skipif(not kernels_available(), reason="needs CUDA and mamba-ssm + causal-conv1d")
def test_mamba_ssm_kernels_match_the_pure_path():
    torch.manual_seed(0)
    fused = build_backbone("mamba", 32, hidden_size=64, num_layers=2, use_kernels=True).cuda()
    pure = build_backbone("mamba", 32, hidden_size=64, num_layers=2, use_kernels=False).cuda()
    pure.load_state_dict(fused.state_dict())
    x = torch.randn(4, 128, 32, device="cuda", requires_grad=True)
    y_fused, state_fused = fused(x)
    y_pure, state_pure = pure(x)
    torch.testing.assert_close(y_fused, y_pure, atol=1e-4, rtol=1e-3)
    assert_states_close(state_fused, state_pure, atol=1e-4, rtol=1e-3)
    with torch.no_grad():  # a carried state (truncated BPTT) also runs on the kernels
        y_next_fused, _ = fused(x[:, :40], state_fused)
        y_next_pure, _ = pure(x[:, :40], state_pure)
    torch.testing.assert_close(y_next_fused, y_next_pure, atol=1e-4, rtol=1e-3)
    readout = torch.randn_like(y_pure)
    (y_fused * readout).sum().backward()
    (y_pure * readout).sum().backward()
    for (name, p_fused), p_pure in zip(fused.named_parameters(), pure.parameters()):
        torch.testing.assert_close(p_fused.grad, p_pure.grad, atol=1e-3, rtol=1e-2, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not fla_available(), reason="needs CUDA and flash-linear-attention")
@pytest.mark.parametrize("name", ["gla", "rwkv7"])
def test_fla_kernels_match_the_pure_path(name):
    """fla's chunk_gla / chunk_rwkv7 against the pure chunked form, forward and backward,
    from a carried state."""
    torch.manual_seed(0)
    sizes = dict(gla=dict(num_heads=4), rwkv7=dict(head_size=64))[name]
    fused = build_backbone(name, 32, hidden_size=256, num_layers=2, use_kernels=True, **sizes).cuda()
    pure = build_backbone(name, 32, hidden_size=256, num_layers=2, use_kernels=False, **sizes).cuda()
    pure.load_state_dict(fused.state_dict())
    x = torch.randn(4, 128, 32, device="cuda")
    with torch.no_grad():
        _, state = pure(x[:, :64])
    y_fused, state_fused = fused(x[:, 64:], state)
    y_pure, state_pure = pure(x[:, 64:], state)
    torch.testing.assert_close(y_fused, y_pure, atol=1e-3, rtol=1e-3)
    assert_states_close(state_fused, state_pure, atol=1e-3, rtol=1e-3)
    readout = torch.randn_like(y_pure)
    (y_fused * readout).sum().backward()
    (y_pure * readout).sum().backward()
    for (param_name, p_fused), p_pure in zip(fused.named_parameters(), pure.parameters()):
        torch.testing.assert_close(p_fused.grad, p_pure.grad, atol=1e-2, rtol=1e-2, msg=param_name)
