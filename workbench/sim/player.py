"""One player's frame: hitlag, the action state machine, movement and stage collision.

Continues :mod:`workbench.sim.core` (the input mapping and the per-action options);
:func:`update_player` is what the kernel calls for each player of each game.
"""

from __future__ import annotations

import math

from workbench.sim.actions import *  # noqa: F403
from workbench.sim.core import *  # noqa: F403
from workbench.sim.jit import jitable
from workbench.sim.state import *  # noqa: F403

AERIAL_FIRST, AERIAL_LAST = 7, 11  # M_NAIR .. M_DAIR
GROUND_BOUNCE = 0.8  # measured on replays: a grounded spike's bounce speed ratio


@jitable
def launch(pf, pi, first_frame, g, p):
    """End of the victim's hitlag: knockback speed along the DI-adjusted angle (Melee)."""
    kb = pf[g, p, F_PEND_KB]
    angle = pf[g, p, F_PEND_ANGLE]
    pf[g, p, F_PEND_KB] = -1.0
    rad = math.radians(angle)
    sin0 = math.sin(rad)
    sx, sy = pf[g, p, F_SX], pf[g, p, F_SY]
    mag = math.sqrt(sx * sx + sy * sy)
    if mag > 1.0:
        sx, sy = sx / mag, sy / mag
    perp = -sx * math.sin(rad) + sy * math.cos(rad)  # stick across the launch line
    angle += DI_MAX_DEG * perp * abs(perp)
    rad = math.radians(angle)
    speed = KB_SPEED * kb
    pf[g, p, F_LCOS] = math.cos(rad)
    pf[g, p, F_LSIN] = math.sin(rad)
    pf[g, p, F_KBX] = speed * pf[g, p, F_LCOS]
    pf[g, p, F_KBY] = speed * pf[g, p, F_LSIN]
    pf[g, p, F_VX] = 0.0
    pf[g, p, F_VY] = 0.0
    pi[g, p, I_FASTFALL] = 0
    if pi[g, p, I_GROUND]:
        if kb < TUMBLE_KB and sin0 <= 1e-6:
            pf[g, p, F_KBY] = 0.0  # Melee: a weak horizontal hit keeps the victim grounded
        else:
            if pf[g, p, F_KBY] < 0:  # a grounded spike bounces off the floor, 0.8 as fast (replays)
                pf[g, p, F_KBX] *= GROUND_BOUNCE
                pf[g, p, F_KBY] *= -GROUND_BOUNCE
                pf[g, p, F_LSIN] = -pf[g, p, F_LSIN]
            pf[g, p, F_Y] += 0.01
            go_airborne(pf, pi, first_frame, g, p, -1)


@jitable
def release_grab(pf, pi, first_frame, g, p):
    """Whoever ``p`` held or was held by lets go (a hit or a KO ends a grab)."""
    q = 1 - p
    if pi[g, p, I_GRAB] != 0 and pi[g, q, I_GRAB] != 0:
        pi[g, q, I_GRAB] = 0
        if pi[g, q, I_DEAD] == 0 and pf[g, q, F_HITLAG] <= 0:
            set_action(pf, pi, first_frame, g, q, STANDING if pi[g, q, I_GROUND] else FALLING)
    pi[g, p, I_GRAB] = 0


@jitable
def land(pf, pi, chars, moves, motions, first_frame, g, p, plat, height):
    """Touching down: aerial landing lag and L-cancel, wavedash landing, techs."""
    c = pi[g, p, I_CHAR]
    action = pi[g, p, I_ACTION]
    kind = pi[g, p, I_MOVE]
    fi = pi[g, p, I_FIN]
    pf[g, p, F_Y] = height
    pf[g, p, F_VY] = 0.0
    pf[g, p, F_KBY] = 0.0
    pi[g, p, I_GROUND] = 1
    pi[g, p, I_PLAT] = plat
    pi[g, p, I_FASTFALL] = 0
    pi[g, p, I_JUMPS] = int(chars[c, C_JUMPS])
    tumbling = action == TUMBLING or (pi[g, p, I_TUMBLE] and in_hitstun(pf, g, p))
    if tumbling:
        pf[g, p, F_HITSTUN] = 0.0
        pi[g, p, I_TUMBLE] = 0
        pf[g, p, F_KBX] = 0.0
        pf[g, p, F_VX] = 0.0
        if pi[g, p, I_TWIN] < TECH_WINDOW:
            sx = pf[g, p, F_SX] * pf[g, p, F_FACING]
            tech = K_TECHN if sx == 0 else (K_TECHF if sx > 0 else K_TECHB)
            start_motion(pf, pi, motions, first_frame, g, p, tech)
        else:
            set_action(pf, pi, first_frame, g, p, TECH_MISS_UP)
        return
    if in_hitstun(pf, g, p):
        return  # weak hitstun goes on on the ground
    if kind >= AERIAL_FIRST and kind <= AERIAL_LAST:
        before, after = moves[c, kind, MI_ACB], moves[c, kind, MI_ACA]
        if (before > 0 and fi < before) or (after > 0 and fi > after) or moves[c, kind, MI_LAND] == 0:
            set_action(pf, pi, first_frame, g, p, LANDING)
            pi[g, p, I_TIMER] = int(chars[c, C_LANDLAG])
            return
        lag = moves[c, kind, MI_LAND]
        if pi[g, p, I_LWIN] < 7:  # Melee: L, R or Z within 7 frames before landing
            lag = moves[c, kind, MI_LCLAG]
            pi[g, p, I_LCANCEL] = 1
        else:
            pi[g, p, I_LCANCEL] = 2
        set_action(pf, pi, first_frame, g, p, NAIR_LANDING + kind - AERIAL_FIRST)
        pi[g, p, I_TIMER] = lag
        return
    if action == SHIELD_BREAK_FLY or action == SHIELD_BREAK_FALL:
        set_action(pf, pi, first_frame, g, p, SHIELD_BREAK_DOWN_U)
        return
    if pi[g, p, I_MOTION] == K_AIRDODGE or action == DEAD_FALL:
        set_action(pf, pi, first_frame, g, p, LANDING_SPECIAL)
        pi[g, p, I_TIMER] = WAVEDASH_LAG
        return
    set_action(pf, pi, first_frame, g, p, LANDING)
    pi[g, p, I_TIMER] = int(chars[c, C_LANDLAG])


@jitable
def grab_hold(pf, pi, moves, hb, first_frame, g, p):
    """The holder of a grab: throw by stick direction, else let go when the hold ends."""
    q = 1 - p
    face = pf[g, p, F_FACING]
    pf[g, q, F_X] = pf[g, p, F_X] + face * 8.0
    pf[g, q, F_Y] = pf[g, p, F_Y]
    sx, sy = pf[g, p, F_SX], pf[g, p, F_SY]
    kind = -1
    if abs(sy) > abs(sx) and sy != 0:
        kind = M_UTHROW if sy > 0 else M_DTHROW
    elif sx != 0:
        kind = M_FTHROW if sx * face > 0 else M_BTHROW
    if kind >= 0:
        start_move(pf, pi, moves, first_frame, g, p, kind)
        set_action(pf, pi, first_frame, g, q, THROWN_FORWARD + kind - M_FTHROW)
        return
    pi[g, p, I_TIMER] -= 1
    if pi[g, p, I_TIMER] <= 0:
        pi[g, p, I_GRAB] = 0
        pi[g, q, I_GRAB] = 0
        set_action(pf, pi, first_frame, g, p, GRAB_BREAK)
        set_action(pf, pi, first_frame, g, q, GRAB_ESCAPE)
        pf[g, q, F_VX] = face * 1.0
        pf[g, p, F_VX] = -face * 1.0


@jitable
def respawn(pf, pi, chars, stage, first_frame, g, p):
    c = pi[g, p, I_CHAR]
    pf[g, p, F_X] = stage[S_SPAWN0 + p] * 0.5
    pf[g, p, F_Y] = RESPAWN_HEIGHT
    pf[g, p, F_VX] = 0.0
    pf[g, p, F_VY] = 0.0
    pf[g, p, F_PERCENT] = 0.0
    pf[g, p, F_SHIELD] = SHIELD_MAX
    pf[g, p, F_FACING] = 1.0 if pf[g, p, F_X] <= 0 else -1.0
    pi[g, p, I_GROUND] = 0
    pi[g, p, I_PLAT] = -1
    pi[g, p, I_JUMPS] = int(chars[c, C_JUMPS]) - 1
    pi[g, p, I_INVULN] = RESPAWN_INVULN
    pi[g, p, I_TUMBLE] = 0
    set_action(pf, pi, first_frame, g, p, ON_HALO_WAIT)


@jitable
def control(pf, pi, chars, moves, hb, motions, loco, first_frame, stage, g, p):
    """The action state machine for one frame. Returns True when the player's position
    is held this frame (hanging, on the respawn halo, grabbed)."""
    action = pi[g, p, I_ACTION]
    fi = pi[g, p, I_FIN]
    if action == GRABBED or (action >= THROWN_FORWARD and action <= THROWN_FORWARD + 3):
        return True
    if action == ON_HALO_WAIT:
        active = (
            pf[g, p, F_SX] != 0 or pf[g, p, F_SY] != 0 or pi[g, p, I_BUTTONS] != 0 or pf[g, p, F_TRIG] >= TRIGGER_SHIELD
        )
        if active or fi > HALO_MAX_FRAMES:
            pi[g, p, I_INVULN] = RESPAWN_INVULN
            go_airborne(pf, pi, first_frame, g, p, FALLING)
            return False
        return True
    if action == EDGE_CATCHING:
        if fi > LEDGE_CATCH_FRAMES:
            set_action(pf, pi, first_frame, g, p, EDGE_HANGING)
        return True
    if action == EDGE_HANGING:
        ledge_options(pf, pi, chars, moves, motions, first_frame, g, p)
        return pi[g, p, I_ACTION] == EDGE_HANGING
    if in_hitstun(pf, g, p):
        pf[g, p, F_HITSTUN] -= 1.0
        if pf[g, p, F_HITSTUN] <= 0:
            pf[g, p, F_HITSTUN] = 0.0
            if pi[g, p, I_GROUND]:
                pi[g, p, I_TUMBLE] = 0
                set_action(pf, pi, first_frame, g, p, STANDING)
            else:
                set_action(pf, pi, first_frame, g, p, TUMBLING if pi[g, p, I_TUMBLE] else FALLING)
        return False
    if pi[g, p, I_GRAB] == 1 and pi[g, p, I_MOVE] < 0:
        grab_hold(pf, pi, moves, hb, first_frame, g, p)
        return False
    if move_state(pf, pi, chars, moves, motions, loco, first_frame, g, p):
        return False
    action = pi[g, p, I_ACTION]
    fi = pi[g, p, I_FIN]
    if pi[g, p, I_GROUND]:
        return ground_control(pf, pi, chars, moves, motions, first_frame, g, p, action, fi)
    return air_control(pf, pi, chars, moves, motions, first_frame, stage, g, p, action)


@jitable
def ground_control(pf, pi, chars, moves, motions, first_frame, g, p, action, fi):
    c = pi[g, p, I_CHAR]
    if action == KNEE_BEND:
        if shield_pressed(pf, pi, g, p):
            pi[g, p, I_BUFFER_DODGE] = 1
        if fi > chars[c, C_JSQUAT]:
            leave_jumpsquat(pf, pi, chars, motions, first_frame, g, p)
        return False
    if action == LANDING or action == LANDING_SPECIAL or (action >= NAIR_LANDING and action <= NAIR_LANDING + 4):
        pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, chars[c, C_TRACTION])
        if fi <= pi[g, p, I_TIMER]:
            return False
    if action == SHIELD_START or action == SHIELD or action == SHIELD_STUN:
        return shield_control(pf, pi, chars, moves, motions, first_frame, g, p, action, fi)
    if action == SHIELD_RELEASE:
        if fi <= SHIELD_RELEASE_FRAMES:
            return False
    if action == SHIELD_BREAK_DOWN_U:
        if fi > SHIELD_BREAK_DOWN:
            set_action(pf, pi, first_frame, g, p, SHIELD_BREAK_STAND_U)
            pi[g, p, I_TIMER] = max(100, DIZZY_BASE - int(pf[g, p, F_PERCENT]))
        return False
    if action == SHIELD_BREAK_STAND_U:
        if fi <= pi[g, p, I_TIMER]:
            return False
    if action == TECH_MISS_UP:
        if fi > MISSED_TECH_FRAMES:
            set_action(pf, pi, first_frame, g, p, LYING_GROUND_UP)
        return False
    if action == LYING_GROUND_UP:
        sx = pf[g, p, F_SX] * pf[g, p, F_FACING]
        if attack_pressed(pf, pi, g, p):
            start_move(pf, pi, moves, first_frame, g, p, M_GETUPATK)
        elif sx != 0:
            start_motion(pf, pi, motions, first_frame, g, p, K_GETUPRF if sx > 0 else K_GETUPRB)
        elif pf[g, p, F_SY] > 0 or pi[g, p, I_BUTTONS] != 0 or fi > LYING_MAX_FRAMES:
            start_motion(pf, pi, motions, first_frame, g, p, K_GETUP)
        return False
    if action == GRAB_BREAK or action == GRAB_ESCAPE:
        pf[g, p, F_VX] = approach(pf[g, p, F_VX], 0.0, chars[c, C_TRACTION])
        if fi <= 15:
            return False
    if not ground_options(pf, pi, chars, moves, motions, first_frame, g, p, action):
        ground_locomotion(pf, pi, chars, first_frame, g, p, pi[g, p, I_ACTION])
    return False


@jitable
def shield_control(pf, pi, chars, moves, motions, first_frame, g, p, action, fi):
    if action == SHIELD_STUN:
        if fi <= pi[g, p, I_TIMER]:
            return False
        set_action(pf, pi, first_frame, g, p, SHIELD)
    if not shield_held(pf, pi, g, p):
        set_action(pf, pi, first_frame, g, p, SHIELD_RELEASE)
        return False
    pf[g, p, F_SHIELD] -= SHIELD_DECAY
    if pf[g, p, F_SHIELD] <= 0:
        break_shield(pf, pi, first_frame, g, p)
        return False
    sx, face = pf[g, p, F_SX], pf[g, p, F_FACING]
    if jump_pressed(pf, pi, g, p):
        set_action(pf, pi, first_frame, g, p, KNEE_BEND)
    elif pressed(pi, g, p, BIT_A):
        start_move(pf, pi, moves, first_frame, g, p, M_GRAB)
    elif abs(sx) >= SMASH_X:
        start_motion(pf, pi, motions, first_frame, g, p, K_ROLLF if sx * face > 0 else K_ROLLB)
    elif pf[g, p, F_SY] <= CROUCH_Y:
        start_motion(pf, pi, motions, first_frame, g, p, K_SPOT)
    elif action == SHIELD_START and fi > 1:
        set_action(pf, pi, first_frame, g, p, SHIELD)
    return False


@jitable
def break_shield(pf, pi, first_frame, g, p):
    pf[g, p, F_SHIELD] = SHIELD_MAX / 2  # Melee restores half the shield after a break
    pf[g, p, F_VY] = SHIELD_BREAK_VY
    pf[g, p, F_Y] += 0.01
    go_airborne(pf, pi, first_frame, g, p, SHIELD_BREAK_FLY)


@jitable
def air_control(pf, pi, chars, moves, motions, first_frame, stage, g, p, action):
    if action == SHIELD_BREAK_FLY or action == SHIELD_BREAK_FALL:
        if action == SHIELD_BREAK_FLY and pf[g, p, F_VY] < 0:
            set_action(pf, pi, first_frame, g, p, SHIELD_BREAK_FALL)
        return False
    if pi[g, p, I_MOTION] == K_AIRDODGE:
        return False
    if action == DEAD_FALL:
        air_drift(pf, pi, chars, g, p, HELPLESS_DRIFT)
        return False
    if pi[g, p, I_MOVE] >= 0 and pi[g, p, I_FIN] <= moves[pi[g, p, I_CHAR], pi[g, p, I_MOVE], MI_IASA]:
        air_drift(pf, pi, chars, g, p, 1.0)
        fast_fall_check(pf, pi, g, p)
        return False
    if not air_options(pf, pi, chars, moves, motions, first_frame, g, p):
        if (
            action != FALLING
            and action != TUMBLING
            and pi[g, p, I_MOVE] < 0
            and pf[g, p, F_VY] < 0
            and (action < JUMPING_FORWARD or action > JUMPING_ARIAL_BACKWARD)
        ):
            set_action(pf, pi, first_frame, g, p, FALLING)
        elif (
            (action >= JUMPING_FORWARD and action <= JUMPING_ARIAL_BACKWARD)
            and pf[g, p, F_VY] < 0
            and pi[g, p, I_FIN] > 30
        ):
            set_action(pf, pi, first_frame, g, p, FALLING)
    if pi[g, p, I_MOTION] != K_AIRDODGE:
        air_drift(pf, pi, chars, g, p, 1.0)
        fast_fall_check(pf, pi, g, p)
    return False


@jitable
def fast_fall_check(pf, pi, g, p):
    """Melee: a down flick at or past the apex fast-falls."""
    if pf[g, p, F_VY] <= 0 and smash_down(pf, g, p) and not in_hitstun(pf, g, p):
        pi[g, p, I_FASTFALL] = 1


@jitable
def movement(pf, pi, chars, moves, motions, first_frame, stage, g, p):
    """Integrate speeds, decay knockback, land, fall off edges, grab ledges."""
    c = pi[g, p, I_CHAR]
    if pi[g, p, I_LEDGE] != 0:  # on the ledge (hanging, its getups, rolls and attack)
        return
    kbx, kby = pf[g, p, F_KBX], pf[g, p, F_KBY]
    if pi[g, p, I_GROUND]:  # on the ground knockback slides off by traction (as replays show)
        pf[g, p, F_KBX] = approach(kbx, 0.0, chars[c, C_TRACTION])
        pf[g, p, F_KBY] = 0.0
    else:
        pf[g, p, F_KBX] = approach(kbx, 0.0, KB_DECAY * abs(pf[g, p, F_LCOS]))
        pf[g, p, F_KBY] = approach(kby, 0.0, KB_DECAY * abs(pf[g, p, F_LSIN]))
    if pi[g, p, I_GROUND]:
        x = pf[g, p, F_X] + pf[g, p, F_VX] + kbx
        height, left, right = surface_extent(stage, pi[g, p, I_PLAT])
        if x < left or x > right:
            holds = (
                pi[g, p, I_MOVE] >= 0
                or pi[g, p, I_MOTION] >= 0
                or pi[g, p, I_ACTION] == SHIELD
                or pi[g, p, I_ACTION] == SHIELD_START
                or pi[g, p, I_ACTION] == SHIELD_STUN
                or pi[g, p, I_ACTION] == KNEE_BEND
                or pi[g, p, I_GRAB] != 0
            )
            if holds and not in_hitstun(pf, g, p):
                x = min(max(x, left), right)
            else:
                action = -1 if in_hitstun(pf, g, p) else FALLING
                pi[g, p, I_JUMPS] = int(chars[c, C_JUMPS]) - 1
                go_airborne(pf, pi, first_frame, g, p, action)
        pf[g, p, F_X] = x
        return
    if pi[g, p, I_MOTION] == K_AIRDODGE:
        pf[g, p, F_VX] *= AIRDODGE_DECAY
        pf[g, p, F_VY] *= AIRDODGE_DECAY
    else:
        gravity(pf, pi, chars, g, p)
    y_old = pf[g, p, F_Y]
    x = pf[g, p, F_X] + pf[g, p, F_VX] + kbx
    y = y_old + pf[g, p, F_VY] + kby
    pf[g, p, F_X] = x
    pf[g, p, F_Y] = y
    if pf[g, p, F_VY] + kby <= 0:
        plat = surface_below(stage, x, y_old, y, pi[g, p, I_DROP])
        if plat >= 0:
            height, left, right = surface_extent(stage, plat)
            land(pf, pi, chars, moves, motions, first_frame, g, p, plat, height)
            return
        try_ledge_grab(pf, pi, chars, stage, first_frame, g, p)
    edge = stage[S_EDGEG]
    if -edge < x < edge and -STAGE_DEPTH < y < 0.0:  # inside the stage's body: push out sideways
        pf[g, p, F_X] = edge + 0.01 if x > 0 else -edge - 0.01
        pf[g, p, F_VX] = 0.0
        pf[g, p, F_KBX] = 0.0


@jitable
def hurtbox_state(pi, motions, g, p):
    """0 vulnerable, 1 invulnerable, 2 intangible (the store's ``hurtbox`` field)."""
    kind = pi[g, p, I_MOTION]
    if kind >= 0:
        c = pi[g, p, I_CHAR]
        fi = pi[g, p, I_FIN]
        if motions[c, kind, O_ILO] <= fi <= motions[c, kind, O_IHI]:
            return 2
    action = pi[g, p, I_ACTION]
    if pi[g, p, I_INVULN] > 0 or action == ON_HALO_WAIT or action == EDGE_CATCHING:
        return 1
    return 0


@jitable
def update_player(pf, pi, chars, moves, hb, motions, loco, first_frame, stage, g, p):
    if pi[g, p, I_DEAD] > 0:
        pi[g, p, I_DEAD] -= 1
        if pi[g, p, I_DEAD] == 0 and pi[g, p, I_STOCKS] > 0:
            respawn(pf, pi, chars, stage, first_frame, g, p)
        return
    if pf[g, p, F_HITLAG] > 0:
        pf[g, p, F_HITLAG] -= 1.0
        if pf[g, p, F_HITLAG] <= 0:
            pf[g, p, F_HITLAG] = 0.0
            if pf[g, p, F_PEND_KB] >= 0:
                launch(pf, pi, first_frame, g, p)
        return
    pi[g, p, I_FIN] += 1
    pf[g, p, F_AFRAME] += 1.0
    for k in (I_INVULN, I_REGRAB, I_DROP):
        if pi[g, p, k] > 0:
            pi[g, p, k] -= 1
    action = pi[g, p, I_ACTION]
    if action != SHIELD and action != SHIELD_START and action != SHIELD_STUN:
        pf[g, p, F_SHIELD] = min(SHIELD_MAX, pf[g, p, F_SHIELD] + SHIELD_REGEN)
    if action < NAIR_LANDING or action > NAIR_LANDING + 4:
        pi[g, p, I_LCANCEL] = 0  # the store's l_cancel holds through the landing lag
    held = control(pf, pi, chars, moves, hb, motions, loco, first_frame, stage, g, p)
    if not held:
        movement(pf, pi, chars, moves, motions, first_frame, stage, g, p)
    pi[g, p, I_HURTBOX] = hurtbox_state(pi, motions, g, p)
