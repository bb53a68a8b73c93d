"""The simulator's step: N games of two players, one frame, compiled by numba.

One frame of one game, in Melee's order: read both controllers; for each player run
hitlag, then the action state machine (the controller mapped to actions the way Melee
maps it), then movement and collision with the stage; then hit detection between every
active hitbox and the other player's hurtbox capsule (or shield bubble), applying damage,
knockback (the real formula), hitlag, hitstun and shield stun; then blast-zone KOs,
respawns and the end of the game. The loop over games runs inside the compiled kernel;
``py_func`` of each kernel is the plain-Python reference of the same lines.

Numbers are from the tables (:mod:`workbench.sim.tables`) except the constants below,
each marked ``Melee`` (the game's value, widely documented) or ``approx`` (an
approximation where no cited table has the value; ``data/sim/README.md`` lists them).
"""

from __future__ import annotations

import math

from workbench.sim.actions import *  # noqa: F403 - action ids and thresholds are the vocabulary here
from workbench.sim.jit import jitable
from workbench.sim.state import *  # noqa: F403 - field indices

# character columns (tables.CHAR_FIELDS order)
(
    C_WEIGHT,
    C_JSQUAT,
    C_JUMPV,
    C_HOPV,
    C_JUMPH,
    C_JUMPHMAX,
    C_JMOM,
    C_DJMULT,
    C_DJH,
    C_JUMPS,
    C_GRAV,
    C_FALL,
    C_FF,
    C_WALK,
    C_WALKACC,
    C_DASHINIT,
    C_RUN,
    C_RUNA,
    C_RUNB,
    C_TRACTION,
    C_AIRSPEED,
    C_AIRBASE,
    C_AIRADD,
    C_AIRFRIC,
    C_LANDLAG,
    C_SHIELD,
    C_DASHFRAMES,
    C_HURT,
    C_HANGY,
    C_DJV,
) = range(30)
# move kinds (tables.MOVE_KINDS order) and move info columns
(
    M_JAB,
    M_FTILT,
    M_UTILT,
    M_DTILT,
    M_FSMASH,
    M_USMASH,
    M_DSMASH,
    M_NAIR,
    M_FAIR,
    M_BAIR,
    M_UAIR,
    M_DAIR,
    M_DATTACK,
    M_GRAB,
    M_DASHGRAB,
    M_FTHROW,
    M_BTHROW,
    M_UTHROW,
    M_DTHROW,
    M_EDGE,
    M_GETUPATK,
) = range(21)
MI_ACTION, MI_TOTAL, MI_IASA, MI_LAND, MI_LCLAG, MI_ACB, MI_ACA, MI_FIRST = range(8)
(H_ACTIVE, H_RADIUS, H_X, H_Y, H_DMG, H_ANGLE, H_KBG, H_BKB, H_SKB, H_HITLAG, H_HITLAGC, H_SSTUN, H_HIT, H_WI) = range(
    14
)
(
    K_ROLLF,
    K_ROLLB,
    K_SPOT,
    K_AIRDODGE,
    K_TECHN,
    K_TECHF,
    K_TECHB,
    K_GETUP,
    K_GETUPRF,
    K_GETUPRB,
    K_LEDGEQ,
    K_LEDGES,
    K_LROLLQ,
    K_LROLLS,
) = range(14)
O_ACTION, O_TOTAL, O_ILO, O_IHI = range(4)
S_BL, S_BR, S_BT, S_BB, S_EDGE, S_EDGEG, S_SPAWN0, S_SPAWN1, S_NPLAT = range(9)
MAX_FRAME = 80  # tables.MAX_MOVE_FRAMES
MOTION_MAX = 60  # tables.MOTION_FRAMES

KB_DECAY = 0.051  # Melee: launch speed lost per frame along the launch angle
KB_SPEED = 0.03  # Melee: launch speed per unit of knockback
HITSTUN_PER_KB = 0.4  # Melee
TUMBLE_KB = 80.0  # Melee
CROUCH_CANCEL = 0.67  # Melee
DI_MAX_DEG = 18.0  # Melee
SHIELD_MAX = 60.0  # Melee
SHIELD_DECAY = 0.28  # Melee: per frame at full press
SHIELD_REGEN = 0.07  # Melee
SHIELD_RELEASE_FRAMES = 15  # Melee
AIRDODGE_SPEED = 3.1  # Melee
AIRDODGE_DECAY = 0.9  # Melee: air-dodge speed multiplier per frame
WAVEDASH_LAG = 10  # Melee: special landing after an air dodge
HELPLESS_DRIFT = 0.5  # approx: share of air mobility while helpless
LEDGE_CATCH_FRAMES = 7  # approx
LEDGE_INVULN = 30  # approx
REGRAB_COOLDOWN = 30  # approx
RESPAWN_DEAD_FRAMES = 60  # approx
HALO_MAX_FRAMES = 120  # approx
RESPAWN_INVULN = 120  # Melee: two seconds
RESPAWN_HEIGHT = 60.0  # approx
TECH_WINDOW = 20  # Melee
MISSED_TECH_FRAMES = 26  # approx
LYING_MAX_FRAMES = 60  # approx
GRAB_HOLD_BASE = 60  # approx: frames a grab holds at 0%, plus one per percent
SHIELD_BREAK_VY = 2.5  # approx
SHIELD_BREAK_DOWN = 30  # approx
DIZZY_BASE = 400  # approx: dizzy frames at 0%, minus one per percent, at least 100
STAGE_DEPTH = 60.0  # approx: how far the main stage's solid body reaches down


@jitable
def dead_zone(v):
    return 0.0 if abs(v) < DEAD_ZONE else v


@jitable
def approach(v, target, step):
    """Move v toward target by at most step."""
    if v < target:
        return min(v + step, target)
    return max(v - step, target)


@jitable
def set_action(pf, pi, first_frame, g, p, action):
    pi[g, p, I_ACTION] = action
    pi[g, p, I_FIN] = 1
    pf[g, p, F_AFRAME] = first_frame[action]
    pi[g, p, I_MOVE] = -1
    pi[g, p, I_MOTION] = -1
    pi[g, p, I_HITDONE] = 0


@jitable
def start_move(pf, pi, moves, first_frame, g, p, kind):
    c = pi[g, p, I_CHAR]
    set_action(pf, pi, first_frame, g, p, moves[c, kind, MI_ACTION])
    pi[g, p, I_MOVE] = kind


@jitable
def start_motion(pf, pi, motions, first_frame, g, p, kind):
    c = pi[g, p, I_CHAR]
    set_action(pf, pi, first_frame, g, p, motions[c, kind, O_ACTION])
    pi[g, p, I_MOTION] = kind


@jitable
def go_airborne(pf, pi, first_frame, g, p, action):
    pi[g, p, I_GROUND] = 0
    pi[g, p, I_PLAT] = -1
    if action >= 0:
        set_action(pf, pi, first_frame, g, p, action)


@jitable
def read_controller(pf, pi, ctrl, g, p):
    """Shift the input history and read this frame's processed controller."""
    pf[g, p, F_PSX2] = pf[g, p, F_PSX1]
    pf[g, p, F_PSY2] = pf[g, p, F_PSY1]
    pf[g, p, F_PSX1] = pf[g, p, F_SX]
    pf[g, p, F_PSY1] = pf[g, p, F_SY]
    pf[g, p, F_PCX] = pf[g, p, F_CX]
    pf[g, p, F_PCY] = pf[g, p, F_CY]
    pf[g, p, F_PTRIG] = pf[g, p, F_TRIG]
    pi[g, p, I_PBUTTONS] = pi[g, p, I_BUTTONS]
    pf[g, p, F_SX] = dead_zone(ctrl[g, p, 0])
    pf[g, p, F_SY] = dead_zone(ctrl[g, p, 1])
    pf[g, p, F_CX] = dead_zone(ctrl[g, p, 2])
    pf[g, p, F_CY] = dead_zone(ctrl[g, p, 3])
    pf[g, p, F_TRIG] = ctrl[g, p, 4]
    bits = 0
    for k in range(8):
        if ctrl[g, p, 5 + k] > 0.5:
            bits |= BUTTON_BITS[k]
    pi[g, p, I_BUTTONS] = bits
    pressed = bits & ~pi[g, p, I_PBUTTONS]
    # frames since the last L/R/Z press (L-cancel) and L/R press (tech)
    if pressed & (BIT_L | BIT_R | BIT_Z):
        pi[g, p, I_LWIN] = 0
    elif pi[g, p, I_LWIN] < 1000:
        pi[g, p, I_LWIN] += 1
    if (pressed & (BIT_L | BIT_R)) or (pf[g, p, F_TRIG] >= TRIGGER_SHIELD > pf[g, p, F_PTRIG]):
        pi[g, p, I_TWIN] = 0
    elif pi[g, p, I_TWIN] < 1000:
        pi[g, p, I_TWIN] += 1


@jitable
def smash_x(pf, g, p):
    return abs(pf[g, p, F_SX]) >= SMASH_X and abs(pf[g, p, F_PSX2]) < DEAD_ZONE


@jitable
def smash_up(pf, g, p):
    return pf[g, p, F_SY] >= SMASH_Y and pf[g, p, F_PSY2] < DEAD_ZONE


@jitable
def smash_down(pf, g, p):
    return pf[g, p, F_SY] <= -SMASH_Y and pf[g, p, F_PSY2] > -DEAD_ZONE


@jitable
def c_flick(pf, g, p):
    cx, cy = pf[g, p, F_CX], pf[g, p, F_CY]
    now = abs(cx) >= SMASH_X or abs(cy) >= SMASH_Y
    before = abs(pf[g, p, F_PCX]) >= SMASH_X or abs(pf[g, p, F_PCY]) >= SMASH_Y
    return now and not before


@jitable
def pressed(pi, g, p, bits):
    return (pi[g, p, I_BUTTONS] & ~pi[g, p, I_PBUTTONS] & bits) != 0


@jitable
def jump_pressed(pf, pi, g, p):
    return pressed(pi, g, p, BIT_X | BIT_Y) or (smash_up(pf, g, p) and pf[g, p, F_PSY1] < SMASH_Y)


@jitable
def shield_held(pf, pi, g, p):
    return (pi[g, p, I_BUTTONS] & (BIT_L | BIT_R)) != 0 or pf[g, p, F_TRIG] >= TRIGGER_SHIELD


@jitable
def shield_pressed(pf, pi, g, p):
    return pressed(pi, g, p, BIT_L | BIT_R) or (pf[g, p, F_TRIG] >= TRIGGER_SHIELD > pf[g, p, F_PTRIG])


@jitable
def attack_pressed(pf, pi, g, p):
    return pressed(pi, g, p, BIT_A) or c_flick(pf, g, p)


@jitable
def ground_attack(pf, pi, moves, first_frame, g, p):
    """A press on the ground (or a c-stick flick): smash, tilt or jab by stick."""
    sx, sy, face = pf[g, p, F_SX], pf[g, p, F_SY], pf[g, p, F_FACING]
    if c_flick(pf, g, p):
        cx, cy = pf[g, p, F_CX], pf[g, p, F_CY]
        if abs(cx) >= abs(cy):
            pf[g, p, F_FACING] = 1.0 if cx > 0 else -1.0
            start_move(pf, pi, moves, first_frame, g, p, M_FSMASH)
        elif cy > 0:
            start_move(pf, pi, moves, first_frame, g, p, M_USMASH)
        else:
            start_move(pf, pi, moves, first_frame, g, p, M_DSMASH)
        return
    if smash_x(pf, g, p) and abs(sx) >= abs(sy):
        pf[g, p, F_FACING] = 1.0 if sx > 0 else -1.0
        start_move(pf, pi, moves, first_frame, g, p, M_FSMASH)
    elif smash_up(pf, g, p):
        start_move(pf, pi, moves, first_frame, g, p, M_USMASH)
    elif smash_down(pf, g, p):
        start_move(pf, pi, moves, first_frame, g, p, M_DSMASH)
    elif sy > 0 and sy >= abs(sx):
        start_move(pf, pi, moves, first_frame, g, p, M_UTILT)
    elif sy < 0 and -sy >= abs(sx):
        start_move(pf, pi, moves, first_frame, g, p, M_DTILT)
    elif sx != 0:
        if sx * face < 0:
            pf[g, p, F_FACING] = -face
        start_move(pf, pi, moves, first_frame, g, p, M_FTILT)
    else:
        start_move(pf, pi, moves, first_frame, g, p, M_JAB)


@jitable
def aerial_kind(pf, g, p):
    """The aerial a press makes: c-stick first, else the main stick, against facing."""
    x, y = pf[g, p, F_CX], pf[g, p, F_CY]
    if x == 0 and y == 0:
        x, y = pf[g, p, F_SX], pf[g, p, F_SY]
    if x == 0 and y == 0:
        return M_NAIR
    if abs(y) > abs(x):
        return M_UAIR if y > 0 else M_DAIR
    return M_FAIR if x * pf[g, p, F_FACING] > 0 else M_BAIR


@jitable
def ground_options(pf, pi, chars, moves, motions, first_frame, g, p, action):
    """An actionable grounded player's choice, in Melee's priority. True when it acted."""
    c = pi[g, p, I_CHAR]
    sx, sy = pf[g, p, F_SX], pf[g, p, F_SY]
    moving = action == DASHING or action == RUNNING
    if jump_pressed(pf, pi, g, p):
        set_action(pf, pi, first_frame, g, p, KNEE_BEND)
        pi[g, p, I_JUMP_HELD] = 1
        pi[g, p, I_BUFFER_DODGE] = 0
        return True
    if pressed(pi, g, p, BIT_Z) or (shield_held(pf, pi, g, p) and pressed(pi, g, p, BIT_A)):
        start_move(pf, pi, moves, first_frame, g, p, M_DASHGRAB if moving else M_GRAB)
        return True
    if shield_held(pf, pi, g, p):
        set_action(pf, pi, first_frame, g, p, SHIELD_START)
        return True
    if attack_pressed(pf, pi, g, p):
        if moving and not c_flick(pf, g, p) and not smash_up(pf, g, p) and not smash_down(pf, g, p):
            start_move(pf, pi, moves, first_frame, g, p, M_DATTACK)
        else:
            ground_attack(pf, pi, moves, first_frame, g, p)
        return True
    if pi[g, p, I_PLAT] > 0 and smash_down(pf, g, p):  # drop through a platform
        pf[g, p, F_Y] -= 0.5
        pi[g, p, I_DROP] = 10
        go_airborne(pf, pi, first_frame, g, p, PLATFORM_DROP)
        return True
    if sy <= CROUCH_Y and not moving:
        if action != CROUCH_START and action != CROUCHING:
            set_action(pf, pi, first_frame, g, p, CROUCH_START)
            return True
        return False
    if smash_x(pf, g, p) and action != RUNNING:
        pf[g, p, F_FACING] = 1.0 if sx > 0 else -1.0
        set_action(pf, pi, first_frame, g, p, DASHING)
        # replays: a dash adds its initial speed to a speed the other way (a turn's slide)
        # and replaces one the same way
        dash = chars[c, C_DASHINIT] * pf[g, p, F_FACING]
        pf[g, p, F_VX] = dash + pf[g, p, F_VX] if pf[g, p, F_VX] * dash < 0 else dash
        return True
    return False


@jitable
def ground_locomotion(pf, pi, chars, first_frame, g, p, action):
    """Walking, dashing, running and braking (an actionable player who chose nothing)."""
    c = pi[g, p, I_CHAR]
    sx, face = pf[g, p, F_SX], pf[g, p, F_FACING]
    traction = chars[c, C_TRACTION]
    if action == DASHING:
        if pi[g, p, I_FIN] > max(chars[c, C_DASHFRAMES], 1.0):
            if sx * face >= SMASH_X * 0.75:
                set_action(pf, pi, first_frame, g, p, RUNNING)
            else:
                set_action(pf, pi, first_frame, g, p, STANDING)
        elif pi[g, p, I_FIN] > 1:
            target = chars[c, C_RUN] * sx
            accel = chars[c, C_RUNA] * abs(sx) + chars[c, C_RUNB]
            if sx * face > 0:
                pf[g, p, F_VX] = approach(pf[g, p, F_VX], target, accel)
            else:
                pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, traction)
        return
    if action == RUNNING:
        if sx * face <= 0:
            set_action(pf, pi, first_frame, g, p, RUN_BRAKE)
        else:
            target = chars[c, C_RUN] * sx
            pf[g, p, F_VX] = approach(pf[g, p, F_VX], target, chars[c, C_RUNA] * abs(sx) + chars[c, C_RUNB])
        return
    if action == RUN_BRAKE:
        pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, traction * 2.0)
        if pf[g, p, F_VX] == 0.0:
            set_action(pf, pi, first_frame, g, p, STANDING)
        return
    if action == CROUCH_START and pi[g, p, I_FIN] > 2:
        set_action(pf, pi, first_frame, g, p, CROUCHING)
    if action == CROUCHING or action == CROUCH_START:
        if pf[g, p, F_SY] > CROUCH_Y:
            set_action(pf, pi, first_frame, g, p, CROUCH_END)
        pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, traction)
        return
    if sx != 0:
        if sx * face < 0:
            pf[g, p, F_FACING] = -face
            set_action(pf, pi, first_frame, g, p, TURNING)
        target = chars[c, C_WALK] * sx
        if abs(pf[g, p, F_VX]) > abs(target):
            pf[g, p, F_VX] = approach(pf[g, p, F_VX], target, traction)
        else:
            pf[g, p, F_VX] = approach(pf[g, p, F_VX], target, chars[c, C_WALKACC] * abs(sx))
        if pi[g, p, I_ACTION] != TURNING:
            fraction = abs(sx)
            walk = WALK_SLOW if fraction < 0.5 else (WALK_MIDDLE if fraction < 0.8 else WALK_FAST)
            if action != walk:
                set_action(pf, pi, first_frame, g, p, walk)
        return
    pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, traction)
    if action != STANDING:
        set_action(pf, pi, first_frame, g, p, STANDING)


@jitable
def leave_jumpsquat(pf, pi, chars, motions, first_frame, g, p):
    """End of jump squat: full hop if the jump is still held, else short hop (Melee)."""
    c = pi[g, p, I_CHAR]
    sx, face = pf[g, p, F_SX], pf[g, p, F_FACING]
    held = (pi[g, p, I_BUTTONS] & (BIT_X | BIT_Y)) != 0 or pf[g, p, F_SY] >= SMASH_Y
    vy = chars[c, C_JUMPV] if held else chars[c, C_HOPV]
    vx = pf[g, p, F_VX] * chars[c, C_JMOM] + sx * chars[c, C_JUMPH]
    vmax = chars[c, C_JUMPHMAX]
    pf[g, p, F_VX] = min(max(vx, -vmax), vmax)
    # replays: the first airborne frame rises by the full jump speed; gravity starts on the
    # next, so pre-add the g that this frame's movement takes off
    pf[g, p, F_VY] = vy + chars[c, C_GRAV]
    pi[g, p, I_FASTFALL] = 0
    pi[g, p, I_JUMPS] = int(chars[c, C_JUMPS]) - 1
    go_airborne(pf, pi, first_frame, g, p, JUMPING_FORWARD if sx * face >= 0 else JUMPING_BACKWARD)
    if pi[g, p, I_BUFFER_DODGE] or shield_held(pf, pi, g, p):
        air_dodge(pf, pi, motions, first_frame, g, p)


@jitable
def air_dodge(pf, pi, motions, first_frame, g, p):
    sx, sy = pf[g, p, F_SX], pf[g, p, F_SY]
    norm = math.sqrt(sx * sx + sy * sy)
    start_motion(pf, pi, motions, first_frame, g, p, K_AIRDODGE)
    if norm > 0:
        pf[g, p, F_VX] = AIRDODGE_SPEED * sx / norm
        pf[g, p, F_VY] = AIRDODGE_SPEED * sy / norm
    else:
        pf[g, p, F_VX] = 0.0
        pf[g, p, F_VY] = 0.0
    pi[g, p, I_FASTFALL] = 0


@jitable
def air_options(pf, pi, chars, moves, motions, first_frame, g, p):
    """An actionable airborne player's choice. True when it acted."""
    c = pi[g, p, I_CHAR]
    if jump_pressed(pf, pi, g, p) and pi[g, p, I_JUMPS] > 0:
        sx, face = pf[g, p, F_SX], pf[g, p, F_FACING]
        # libmelee's measured double-jump speed (see tables); the full speed on this frame
        pf[g, p, F_VY] = chars[c, C_DJV] + chars[c, C_GRAV]
        pf[g, p, F_VX] = sx * chars[c, C_DJH] * chars[c, C_AIRSPEED]
        pi[g, p, I_JUMPS] -= 1
        pi[g, p, I_FASTFALL] = 0
        set_action(pf, pi, first_frame, g, p, JUMPING_ARIAL_FORWARD if sx * face >= 0 else JUMPING_ARIAL_BACKWARD)
        return True
    if attack_pressed(pf, pi, g, p):
        start_move(pf, pi, moves, first_frame, g, p, aerial_kind(pf, g, p))
        return True
    if shield_pressed(pf, pi, g, p):
        air_dodge(pf, pi, motions, first_frame, g, p)
        return True
    return False


@jitable
def air_drift(pf, pi, chars, g, p, scale):
    """Melee's aerial drift: accelerate toward stick x air speed, else air friction."""
    c = pi[g, p, I_CHAR]
    sx = pf[g, p, F_SX]
    vx = pf[g, p, F_VX]
    cap = chars[c, C_AIRSPEED] * abs(sx) * scale
    if sx != 0 and (vx * sx < 0 or abs(vx) < cap):
        accel = (chars[c, C_AIRADD] * abs(sx) + chars[c, C_AIRBASE]) * scale
        vx += accel if sx > 0 else -accel
        if abs(vx) > cap and vx * sx > 0:
            vx = cap if sx > 0 else -cap
    else:
        vx = approach(vx, 0.0, chars[c, C_AIRFRIC])
    pf[g, p, F_VX] = vx


@jitable
def gravity(pf, pi, chars, g, p):
    c = pi[g, p, I_CHAR]
    if pi[g, p, I_FASTFALL]:
        pf[g, p, F_VY] = -chars[c, C_FF]
        return
    pf[g, p, F_VY] = max(pf[g, p, F_VY] - chars[c, C_GRAV], -chars[c, C_FALL])


@jitable
def in_hitstun(pf, g, p):
    return pf[g, p, F_HITSTUN] > 0


@jitable
def move_state(pf, pi, chars, moves, motions, loco, first_frame, g, p):
    """Advance a move or a timed motion; returns True while it holds the player."""
    c = pi[g, p, I_CHAR]
    fi = pi[g, p, I_FIN]
    kind = pi[g, p, I_MOVE]
    if kind >= 0:
        total = moves[c, kind, MI_TOTAL]
        if kind >= M_FTHROW and kind <= M_DTHROW:
            if fi > total:
                set_action(pf, pi, first_frame, g, p, STANDING)
                return False
            return True
        if fi > total:
            if kind == M_EDGE:  # the ledge attack ends on the stage (approx: 8 units in)
                pf[g, p, F_X] -= pi[g, p, I_LEDGE] * 8.0
                climb(pf, pi, g, p)
            if pi[g, p, I_GROUND]:
                set_action(pf, pi, first_frame, g, p, STANDING)
            else:
                set_action(pf, pi, first_frame, g, p, FALLING)
            return False
        return fi <= moves[c, kind, MI_IASA]
    kind = pi[g, p, I_MOTION]
    if kind >= 0:
        total = motions[c, kind, O_TOTAL]
        if fi <= MOTION_MAX:
            dx, dy = loco[c, kind, fi, 0], loco[c, kind, fi, 1]
            if kind != K_AIRDODGE:
                pf[g, p, F_X] += dx * pf[g, p, F_FACING]
                pf[g, p, F_Y] += dy
        if fi > total:
            end_motion(pf, pi, chars, first_frame, g, p, kind)
            return False
        return True
    return False


@jitable
def end_motion(pf, pi, chars, first_frame, g, p, kind):
    if kind == K_ROLLF or kind == K_GETUPRF:
        pf[g, p, F_FACING] = -pf[g, p, F_FACING]  # a forward roll ends facing back
    if kind == K_AIRDODGE:
        set_action(pf, pi, first_frame, g, p, DEAD_FALL)
        return
    if kind >= K_LEDGEQ:  # climbed onto the stage
        climb(pf, pi, g, p)
    set_action(pf, pi, first_frame, g, p, STANDING)


@jitable
def climb(pf, pi, g, p):
    """From the ledge onto the main stage's surface."""
    pf[g, p, F_Y] = 0.0
    pf[g, p, F_VX] = 0.0
    pf[g, p, F_VY] = 0.0
    pi[g, p, I_GROUND] = 1
    pi[g, p, I_PLAT] = 0
    pi[g, p, I_LEDGE] = 0


@jitable
def ledge_options(pf, pi, chars, moves, motions, first_frame, g, p):
    """Hanging: get up toward the stage, roll with shield, attack, jump, or drop."""
    side = pi[g, p, I_LEDGE]
    sx, sy = pf[g, p, F_SX], pf[g, p, F_SY]
    quick = pf[g, p, F_PERCENT] < 100.0
    if jump_pressed(pf, pi, g, p):
        c = pi[g, p, I_CHAR]
        pi[g, p, I_LEDGE] = 0
        pi[g, p, I_REGRAB] = REGRAB_COOLDOWN
        pf[g, p, F_VY] = chars[c, C_JUMPV] + chars[c, C_GRAV]
        pf[g, p, F_VX] = -side * chars[c, C_AIRSPEED] * 0.5
        go_airborne(pf, pi, first_frame, g, p, EDGE_JUMP_1_QUICK)
        return
    if attack_pressed(pf, pi, g, p) or pressed(pi, g, p, BIT_B):
        start_move(pf, pi, moves, first_frame, g, p, M_EDGE)
        return
    if shield_pressed(pf, pi, g, p):
        start_motion(pf, pi, motions, first_frame, g, p, K_LROLLQ if quick else K_LROLLS)
        return
    if sx * -side > 0 or sy > 0:
        start_motion(pf, pi, motions, first_frame, g, p, K_LEDGEQ if quick else K_LEDGES)
        return
    if sx * side > 0 or sy < 0:
        pi[g, p, I_LEDGE] = 0
        pi[g, p, I_REGRAB] = REGRAB_COOLDOWN
        pf[g, p, F_VY] = 0.0
        go_airborne(pf, pi, first_frame, g, p, FALLING)


@jitable
def try_ledge_grab(pf, pi, chars, stage, first_frame, g, p):
    """A falling player near a free ledge snaps to hang from it (Melee auto-grabs)."""
    if pi[g, p, I_REGRAB] > 0 or pf[g, p, F_VY] + pf[g, p, F_KBY] > 0 or in_hitstun(pf, g, p):
        return
    x, y = pf[g, p, F_X], pf[g, p, F_Y]
    side = 1 if x > 0 else -1
    dx = abs(x) - stage[S_EDGEG]
    c = pi[g, p, I_CHAR]
    if dx < -6.0 or dx > 14.0 or y > 4.0 or y < chars[c, C_HANGY] - 12.0:
        return
    q = 1 - p
    if pi[g, q, I_LEDGE] == side:
        return
    pi[g, p, I_LEDGE] = side
    pf[g, p, F_X] = side * stage[S_EDGE]
    pf[g, p, F_Y] = chars[c, C_HANGY]
    pf[g, p, F_VX] = 0.0
    pf[g, p, F_VY] = 0.0
    pf[g, p, F_KBX] = 0.0
    pf[g, p, F_KBY] = 0.0
    pf[g, p, F_FACING] = -float(side)
    pi[g, p, I_FASTFALL] = 0
    pi[g, p, I_JUMPS] = int(chars[c, C_JUMPS]) - 1
    pi[g, p, I_INVULN] = max(pi[g, p, I_INVULN], LEDGE_INVULN)
    set_action(pf, pi, first_frame, g, p, EDGE_CATCHING)


@jitable
def surface_below(stage, x, y_old, y_new, drop):
    """Index of the surface crossed going down from y_old to y_new at x: 0 = main stage,
    k = platform k; -1 = none."""
    edge = stage[S_EDGEG]
    if -edge <= x <= edge and y_old >= -0.001 and y_new <= 0.0:
        return 0
    if drop > 0:
        return -1
    for k in range(int(stage[S_NPLAT])):
        h, x0, x1 = stage[9 + 3 * k], stage[10 + 3 * k], stage[11 + 3 * k]
        if x0 <= x <= x1 and y_old >= h - 0.001 and y_new <= h:
            return k + 1
    return -1


@jitable
def surface_extent(stage, plat):
    """(height, left, right) of surface ``plat`` (0 = main stage)."""
    if plat <= 0:
        return 0.0, -stage[S_EDGEG], stage[S_EDGEG]
    k = plat - 1
    return stage[9 + 3 * k], stage[10 + 3 * k], stage[11 + 3 * k]
