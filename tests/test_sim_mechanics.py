"""Each simulated mechanic with a scripted input tape (plain-Python reference step).

Expected values come from the tables (FightCore, the attribute file, libmelee) or from
Melee's formulas written out here, not from the simulator's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.sim import make_env
from workbench.sim import actions as A
from workbench.sim.hits import knockback, launch_angle
from workbench.sim.state import (
    F_HITSTUN,
    F_PERCENT,
    F_SHIELD,
    F_X,
    F_Y,
    I_ACTION,
    I_GROUND,
    I_PLAT,
    I_STOCKS,
    I_TUMBLE,
)
from workbench.sim.tables import CHAR_FIELDS, MOVE_INFO, MOVE_KINDS, load_game_data

DATA = load_game_data()
# controller columns: 0 main x, 1 main y, 2 c x, 3 c y, 4 trigger, 5 A, 6 B, 7 X, 8 Y, 9 Z, 10 L, 11 R
MX, MY, CX, CY, TRIG, BA, BX, BZ, BL = 0, 1, 2, 3, 4, 5, 7, 9, 10


def char(name: str, field: str) -> float:
    return float(DATA.chars[DATA.character_index(name), CHAR_FIELDS.index(field)])


def move(name: str, kind: str, field: str) -> int:
    return int(DATA.moves[DATA.character_index(name), MOVE_KINDS.index(kind), MOVE_INFO.index(field)])


class Tape:
    """One game; ``press(p, frames, **components)`` steps with player p's inputs set."""

    def __init__(self, characters=("fox", "fox"), stage="fd"):
        self.env = make_env(num_games=1, characters=characters, stage=stage, jit=False)
        self.obs = self.env.reset()
        self.history: list = []

    @property
    def state(self):
        return self.env.state

    def col(self, name: str):
        return self.obs.columns[name][0]

    def step(self, p0: dict | None = None, p1: dict | None = None, frames: int = 1):
        for _ in range(frames):
            ctrl = np.zeros((1, 2, 13), np.float32)
            for p, inputs in ((0, p0 or {}), (1, p1 or {})):
                for k, v in inputs.items():
                    ctrl[0, p, k] = v
            self.obs, rewards, done, info = self.env.step(ctrl)
            self.history.append({k: v[0] for k, v in self.obs.columns.items()})
        return self.obs

    def series(self, name: str) -> np.ndarray:
        return np.array([h[name] for h in self.history])

    def place(self, p: int, x: float, y: float = 0.0, percent: float = 0.0, air: bool = False):
        s = self.state
        s.pf[0, p, F_X], s.pf[0, p, F_Y], s.pf[0, p, F_PERCENT] = x, y, percent
        if air:
            s.pi[0, p, I_GROUND], s.pi[0, p, I_PLAT], s.pi[0, p, I_ACTION] = 0, -1, A.FALLING


def airborne_frames(v: float, g: float, fall: float) -> tuple[float, int]:
    """Apex and frames in the air of a jump of speed v as the replays show it: the first
    airborne frame rises by v, then each frame the speed drops by g (capped at the fall
    speed) before it moves."""
    y, frames, apex = 0.0, 0, 0.0
    while True:
        if y + v <= 0:
            return apex, frames + 1
        y += v
        apex = max(apex, y)
        frames += 1
        v = max(v - g, -fall)


def test_short_and_full_hop_heights_and_air_time():
    tape = Tape()
    tape.step({BX: 1})  # a one-frame tap: short hop
    tape.step(frames=40)
    y = tape.series("p0_y")
    squat = int(char("fox", "jump_squat"))
    assert (tape.series("p0_action")[:squat] == A.KNEE_BEND).all()
    assert y[squat] == np.float32(char("fox", "hop_v"))  # replays: Fox's first short-hop frame is y = 2.1
    apex, air = airborne_frames(char("fox", "hop_v"), char("fox", "gravity"), char("fox", "fall_speed"))
    assert abs(y.max() - apex) < 1e-4 and abs(apex - 10.65) < 0.01  # a real Fox short hop peaks at 10.65
    assert int((y > 0).sum()) == air - 1  # the landing frame is on the ground
    tape = Tape()
    tape.step({BX: 1}, frames=20)  # held through jump squat: full hop
    tape.step(frames=60)
    apex, _ = airborne_frames(char("fox", "jump_v"), char("fox", "gravity"), char("fox", "fall_speed"))
    assert abs(tape.series("p0_y").max() - apex) < 1e-3


def test_fast_fall_and_double_jump():
    tape = Tape()
    tape.step({BX: 1}, frames=6)
    tape.step(frames=16)  # past the apex
    tape.step({MY: -1.0})  # down flick from neutral
    assert abs(tape.col("p0_speed_y_self") + char("fox", "fastfall_speed")) < 1e-5
    tape = Tape()
    tape.step({BX: 1}, frames=6)
    tape.step(frames=3)
    jumps = tape.col("p0_jumps_left")
    tape.step({BX: 1})
    assert tape.col("p0_action") == A.JUMPING_ARIAL_FORWARD and tape.col("p0_jumps_left") == jumps - 1
    # libmelee's measured double-jump speed (Fox 4.186, as the replays show), in full on this frame
    assert abs(tape.col("p0_speed_y_self") - char("fox", "dj_v")) < 1e-5 and char("fox", "dj_v") == 4.186


def test_dash_walk_crouch_and_turn():
    tape = Tape()
    tape.step({MX: 1.0})  # a smash to the side from neutral: dash
    assert tape.col("p0_action") == A.DASHING
    assert abs(tape.col("p0_speed_ground_x_self") - char("fox", "dash_init")) < 1e-5
    tape.step({MX: 1.0}, frames=40)
    assert tape.col("p0_action") == A.RUNNING
    assert abs(tape.col("p0_speed_ground_x_self") - char("fox", "run_speed")) < 1e-4
    tape = Tape()
    tape.step({MX: 0.4}, frames=30)  # a tilt walks
    assert tape.col("p0_action") in (A.WALK_SLOW, A.WALK_MIDDLE)
    assert tape.col("p0_speed_ground_x_self") <= char("fox", "walk_speed") * 0.4 + 1e-5
    tape.step({MX: -0.4})
    assert tape.col("p0_facing") == -1
    tape.step({MY: -1.0}, frames=4)
    assert tape.col("p0_action") == A.CROUCHING


def test_knockback_formula_against_the_tables():
    # Fox up-smash (FightCore: 18 damage, bkb 30, kbg 112) on a 75-weight Fox at 100%:
    # ((P/10 + P d/20) 200/(w+100) 1.4 + 18) g/100 + b with P = 118
    expected = ((118 / 10 + 118 * 18 / 20) * 200 / 175 * 1.4 + 18) * 112 / 100 + 30
    assert abs(knockback(18, 100, 75, 112, 30, 0, False) - expected) < 1e-9
    # set knockback (Fox forward throw: skb 140, bkb 10, kbg 100)
    assert abs(knockback(4, 0, 75, 100, 10, 140, False) - ((71 * 1.4 * 200 / 175 + 18) + 10)) < 1e-9
    assert knockback(99, 999, 60, 500, 0, 0, False) == 2500.0
    assert launch_angle(361, 20.0, True) == 0.0 and launch_angle(361, 50.0, True) == 44.0
    assert launch_angle(361, 50.0, False) == 45.0 and launch_angle(80, 50.0, True) == 80


def hit_with_usmash(percent: float, stick: tuple[float, float] = (0.0, 0.0), crouch: bool = False):
    tape = Tape()
    tape.place(1, tape.state.pf[0, 0, F_X] + 6.0, percent=percent)
    victim = {}
    if crouch:
        victim = {MY: -1.0}
        tape.step(p1=victim, frames=4)
    tape.step({CY: 1.0}, victim)  # c-stick up: up-smash
    for _ in range(40):
        if tape.col("p1_hitlag") > 0:  # DI is the stick held as hitlag ends
            victim = {MX: stick[0], MY: stick[1]}
        tape.step(p1=victim)
        moving = tape.col("p1_speed_x_attack") != 0 or tape.col("p1_speed_y_attack") != 0
        if moving and tape.col("p1_hitlag") == 0:  # launched (hitlag over)
            return tape
    raise AssertionError("the up-smash did not launch")


def test_up_smash_launches_at_the_tabled_angle_with_the_real_knockback():
    tape = hit_with_usmash(100.0)
    damage = float(tape.col("p1_percent")) - 100.0
    assert damage == 18  # the first hit (FightCore)
    kb = knockback(18, 100, char("fox", "weight"), 112, 30, 0, False)
    vx, vy = float(tape.col("p1_speed_x_attack")), float(tape.col("p1_speed_y_attack"))
    angle = math.degrees(math.atan2(vy, abs(vx)))
    assert abs(angle - 80.0) < 0.01  # FightCore: angle 80
    speed = math.hypot(vx, vy)
    assert abs(speed - 0.03 * kb) < 1e-3  # launch speed 0.03 kb on the launch frame
    assert tape.col("p1_action") == A.DAMAGE_FLY_NEUTRAL and not tape.col("p1_on_ground")
    hitstun = tape.series("p1_hitstun")
    assert hitstun.max() == math.floor(0.4 * kb)
    # during hitlag the replay's launch speed (before DI) is already there, as in Slippi
    in_hitlag = tape.series("p1_hitlag") > 0
    during = np.hypot(tape.series("p1_speed_x_attack"), tape.series("p1_speed_y_attack"))[in_hitlag]
    assert len(during) and np.allclose(during, 0.03 * kb, atol=1e-3)


def test_di_rotates_the_launch_by_up_to_18_degrees():
    straight = hit_with_usmash(100.0)
    angle0 = math.degrees(math.atan2(straight.col("p1_speed_y_attack"), straight.col("p1_speed_x_attack")))
    # stick full left against an 80-degree launch: its component across the launch line is
    # sin(80), and DI turns the angle by 18 x that squared, toward the stick
    held = hit_with_usmash(100.0, (-1.0, 0.0))
    angle1 = math.degrees(math.atan2(held.col("p1_speed_y_attack"), held.col("p1_speed_x_attack")))
    assert abs((angle1 - angle0) - 18.0 * math.sin(math.radians(80)) ** 2) < 0.05


def test_crouch_cancel_scales_knockback():
    tape = hit_with_usmash(20.0, crouch=True)
    kb = knockback(18, 20, char("fox", "weight"), 112, 30, 0, False) * 0.67
    speed = math.hypot(tape.col("p1_speed_x_attack"), tape.col("p1_speed_y_attack"))
    assert abs(speed - 0.03 * kb) < 1e-3


def test_shield_decays_stuns_and_breaks():
    tape = Tape()
    tape.step(p1={TRIG: 1.0}, frames=11)
    assert tape.col("p1_action") == A.SHIELD
    assert abs(tape.col("p1_shield") - (60 - 0.28 * 10)) < 0.05
    tape = Tape()
    tape.place(1, tape.state.pf[0, 0, F_X] + 8.0)
    tape.step(p1={TRIG: 1.0}, frames=3)
    tape.step({BA: 1}, {TRIG: 1.0})  # a jab into the shield
    tape.step(p1={TRIG: 1.0}, frames=8)
    assert A.SHIELD_STUN in tape.series("p1_action") and tape.col("p1_percent") == 0
    tape = Tape()
    tape.place(1, tape.state.pf[0, 0, F_X] + 8.0)
    tape.step(p1={TRIG: 1.0}, frames=3)
    tape.state.pf[0, 1, F_SHIELD] = 2.0
    tape.step({BA: 1}, {TRIG: 1.0})
    tape.step(p1={TRIG: 1.0}, frames=8)
    assert A.SHIELD_BREAK_FLY in tape.series("p1_action")


def test_l_cancel_halves_aerial_landing_lag():
    def nair_landing(l_press: bool) -> tuple[int, int]:
        tape = Tape()
        tape.step({BX: 1})
        tape.step(frames=4)
        tape.step({BA: 1})  # nair early in a short hop
        for _ in range(40):
            falling_low = tape.col("p0_y") < 3.0 and tape.col("p0_speed_y_self") < 0
            tape.step({BL: 1} if (l_press and falling_low) else {})
            if tape.col("p0_on_ground"):
                break
        tape.step(frames=25)
        acts = tape.series("p0_action")
        return int((acts == A.NAIR_LANDING).sum()), int(tape.series("p0_l_cancel").max())

    lag, flag = nair_landing(True)
    assert (lag, flag) == (move("fox", "nair", "lcancel_lag"), 1)
    lag, flag = nair_landing(False)
    assert lag == move("fox", "nair", "land_lag") and flag == 2


def test_wavedash_lands_in_special_landing_and_slides():
    tape = Tape()
    tape.step({BX: 1})
    tape.step({MX: 0.7, MY: -0.7, BL: 1}, frames=3)  # air dodge down-forward out of jump squat
    tape.step(frames=12)
    acts = tape.series("p0_action")
    assert A.LANDING_SPECIAL in acts and (tape.series("p0_y") <= 0.5).all()
    assert tape.col("p0_x") - (-60.0) > 5.0  # slid forward


def test_ledge_grab_hang_and_getup():
    tape = Tape()
    edge = tape.env.stage_array[5]
    tape.place(0, edge + 4.0, -5.0, air=True)
    tape.step(frames=10)
    assert A.EDGE_HANGING in tape.series("p0_action") or tape.col("p0_action") == A.EDGE_CATCHING
    assert tape.col("p0_hurtbox") == 1  # ledge intangibility
    tape.step(frames=5)
    tape.step({MX: -1.0})  # toward the stage: get up
    tape.step(frames=60)
    assert tape.col("p0_on_ground") and abs(tape.col("p0_y")) < 1e-6 and tape.col("p0_x") < edge


def test_platform_drop_on_battlefield():
    tape = Tape(stage="bf")
    height = tape.env.stage_array[9]
    tape.place(0, -40.0, height)
    tape.state.pi[0, 0, I_PLAT] = 1
    tape.step(frames=2)
    assert tape.col("p0_on_ground") and abs(tape.col("p0_y") - height) < 1e-4
    tape.step({MY: -1.0})
    tape.step(frames=10)
    assert tape.col("p0_y") < height - 1.0


def test_rolls_and_spot_dodge_are_intangible():
    tape = Tape()
    tape.step({TRIG: 1.0}, frames=3)
    tape.step({TRIG: 1.0, MX: 1.0})
    tape.step(frames=40)
    acts, hurt = tape.series("p0_action"), tape.series("p0_hurtbox")
    assert A.SPOTDODGE not in acts and 233 in acts and 2 in hurt[acts == 233]
    assert tape.col("p0_x") > -60.0 + 10.0
    tape = Tape()
    tape.step({TRIG: 1.0}, frames=3)
    tape.step({TRIG: 1.0, MY: -1.0})
    tape.step(frames=30)
    assert A.SPOTDODGE in tape.series("p0_action")


def test_grab_and_throw():
    tape = Tape()
    tape.place(1, tape.state.pf[0, 0, F_X] + 8.0)
    tape.step({BZ: 1})
    tape.step(frames=10)
    assert tape.col("p1_action") == A.GRABBED and tape.col("p0_action") == A.GRAB_WAIT
    tape.step({MX: 1.0})  # forward throw
    tape.step(frames=40)
    fthrow = DATA.hitboxes[DATA.character_index("fox"), MOVE_KINDS.index("fthrow")]
    damage = fthrow[:, 0, 4].max()
    assert tape.col("p1_percent") == damage and 219 in tape.series("p0_action")
    assert tape.col("p1_x") > tape.col("p0_x")


def test_ko_at_the_blast_zone_takes_a_stock_and_respawns():
    tape = Tape()
    tape.place(1, tape.env.stage_array[1] + 1.0, 10.0, air=True)
    tape.step()
    assert tape.col("p1_stocks") == 3 and tape.col("p1_action") == A.DEAD_RIGHT
    tape.step(frames=61)
    assert tape.col("p1_action") == A.ON_HALO_WAIT and tape.col("p1_hurtbox") == 1
    assert tape.col("p1_percent") == 0
    tape.state.pi[0, 1, I_STOCKS] = 1
    tape.place(1, 0.0, tape.env.stage_array[3] - 5.0, air=True)
    obs, rewards, done, info = tape.env.step(np.zeros((1, 2, 13), np.float32))
    assert done[0] and info["final"]["winner"][0] == 0 and rewards[0, 0] == 1.0


def test_tech_and_missed_tech_on_a_tumble_landing():
    for press, expected in ((True, 199), (False, A.TECH_MISS_UP)):  # 199: NEUTRAL_TECH
        tape = Tape()
        tape.place(1, 20.0, 8.0, air=True)
        tape.state.pi[0, 1, I_ACTION] = A.DAMAGE_FLY_NEUTRAL  # in tumble hitstun
        tape.state.pi[0, 1, I_TUMBLE] = 1
        tape.state.pf[0, 1, F_HITSTUN] = 40.0
        tape.step(p1={BL: 1} if press else {})  # L within 20 frames of touching down
        tape.step(frames=20)
        assert expected in tape.series("p1_action")


@pytest.mark.parametrize(
    "name",
    [
        "falco",
        "marth",
        "sheik",
        "captain falcon",
        "jigglypuff",
        "peach",
        "mewtwo",
        "game and watch",
        "link",
        "ganondorf",
        "zelda",
    ],
)
def test_every_required_character_plays_from_its_tables(name):
    tape = Tape((name, "fox"))
    tape.step({BX: 1}, frames=30)
    tape.step(frames=60)
    apex, _ = airborne_frames(char(name, "jump_v"), char(name, "gravity"), char(name, "fall_speed"))
    assert abs(tape.series("p0_y").max() - apex) < 1e-3
    assert tape.col("p0_on_ground")
    assert tape.col("p0_character") == DATA.internal_ids[DATA.character_index(name)]
