"""Hit detection and hit resolution, then KOs and the end of a game; and the kernels.

A hitbox (libmelee's per-frame geometry, FightCore's damage/angle/knockback) hits the
other player's hurtbox capsule (a vertical capsule from the feet to two hurtbox sizes
up, radius 0.6 sizes; libmelee's ``characterdata.csv`` size), or the shield bubble while
shielding. Both players' hits are found before either is applied, so trades happen.
"""

from __future__ import annotations

import math

from workbench.sim.actions import *  # noqa: F403
from workbench.sim.core import *  # noqa: F403
from workbench.sim.jit import jitable, kernel
from workbench.sim.player import release_grab, update_player  # noqa: F401
from workbench.sim.state import *  # noqa: F403

HURT_RADIUS = 0.6  # capsule radius per hurtbox size (approx)
HURT_HEIGHT = 2.0  # capsule height per hurtbox size (libmelee: a circle of radius size at y + size)
CONTACT_NONE, CONTACT_HIT, CONTACT_SHIELD, CONTACT_GRAB = 0, 1, 2, 3


@jitable
def knockback(damage, percent_before, weight, kbg, bkb, skb, weight_independent):
    """Melee's knockback (melee-data README formulas), before crouch cancel; capped at 2500."""
    w = 100.0 if weight_independent else weight
    if skb > 0:
        kb = ((skb * 10.0 / 20.0 + 1.0) * 1.4 * 200.0 / (w + 100.0) + 18.0) * kbg / 100.0 + bkb
    else:
        p = percent_before + damage
        kb = ((p / 10.0 + p * damage / 20.0) * 200.0 / (w + 100.0) * 1.4 + 18.0) * kbg / 100.0 + bkb
    return min(kb, 2500.0)


@jitable
def launch_angle(angle, kb, grounded):
    """The Sakurai angle (361): 0 below knockback 32.1 and 44 above on the ground, 45 in the air."""
    if angle != 361:
        return angle
    if grounded:
        return 0.0 if kb < 32.1 else 44.0
    return 45.0


@jitable
def hurt_distance(px, py, x, y, size):
    """Distance from a point to the capsule of a player standing at (x, y)."""
    r = size * HURT_RADIUS
    lo = y + r
    hi = y + max(size * HURT_HEIGHT - r, r)
    cy = min(max(py, lo), hi)
    return math.sqrt((px - x) ** 2 + (py - cy) ** 2)


@jitable
def is_shielding(action):
    return action == SHIELD or action == SHIELD_START or action == SHIELD_STUN


@jitable
def find_contact(pf, pi, chars, hb, g, a):
    """(contact kind, hitbox slot) of attacker ``a``'s move this frame on the other player."""
    v = 1 - a
    kind = pi[g, a, I_MOVE]
    fi = pi[g, a, I_FIN]
    if kind < 0 or kind >= M_FTHROW and kind <= M_DTHROW or fi > MAX_FRAME:
        return CONTACT_NONE, 0
    if pf[g, a, F_HITLAG] > 0 or pi[g, v, I_DEAD] > 0 or pi[g, v, I_HURTBOX] != 0:
        return CONTACT_NONE, 0
    if pi[g, v, I_GRAB] != 0 or pi[g, a, I_GRAB] != 0:
        return CONTACT_NONE, 0
    c, cv = pi[g, a, I_CHAR], pi[g, v, I_CHAR]
    face = pf[g, a, F_FACING]
    size = chars[cv, C_HURT]
    grab = kind == M_GRAB or kind == M_DASHGRAB
    shielding = is_shielding(pi[g, v, I_ACTION]) and not grab
    vx, vy = pf[g, v, F_X], pf[g, v, F_Y]
    for slot in range(4):
        if hb[c, kind, fi, slot, H_ACTIVE] == 0:
            continue
        hit = int(hb[c, kind, fi, slot, H_HIT])
        if pi[g, a, I_HITDONE] & (1 << hit):
            continue
        hx = pf[g, a, F_X] + face * hb[c, kind, fi, slot, H_X]
        hy = pf[g, a, F_Y] + hb[c, kind, fi, slot, H_Y]
        radius = hb[c, kind, fi, slot, H_RADIUS]
        touches = hurt_distance(hx, hy, vx, vy, size) < radius + size * HURT_RADIUS
        if shielding:
            bubble = chars[cv, C_SHIELD] * pf[g, v, F_SHIELD] / SHIELD_MAX
            centre = vy + size
            if touches or math.sqrt((hx - vx) ** 2 + (hy - centre) ** 2) < bubble + radius:
                return CONTACT_SHIELD, slot
        elif touches:
            return CONTACT_GRAB if grab else CONTACT_HIT, slot
    return CONTACT_NONE, 0


@jitable
def apply_hit(pf, pi, chars, hb, first_frame, g, a, kind, fi, slot, direction):
    """Damage, knockback, hitlag and hitstun of hitbox ``slot`` on the other player."""
    v = 1 - a
    c, cv = pi[g, a, I_CHAR], pi[g, v, I_CHAR]
    damage = hb[c, kind, fi, slot, H_DMG]
    grounded = pi[g, v, I_GROUND] == 1
    crouched = grounded and (pi[g, v, I_ACTION] == CROUCHING or pi[g, v, I_ACTION] == CROUCH_START)
    kb = knockback(
        damage,
        pf[g, v, F_PERCENT],
        chars[cv, C_WEIGHT],
        hb[c, kind, fi, slot, H_KBG],
        hb[c, kind, fi, slot, H_BKB],
        hb[c, kind, fi, slot, H_SKB],
        hb[c, kind, fi, slot, H_WI] > 0,
    )
    if crouched:
        kb *= CROUCH_CANCEL
    angle = launch_angle(hb[c, kind, fi, slot, H_ANGLE], kb, grounded)
    if direction < 0:
        angle = 180.0 - angle
    hitlag = hb[c, kind, fi, slot, H_HITLAGC if crouched else H_HITLAG]
    pf[g, v, F_PERCENT] = min(pf[g, v, F_PERCENT] + damage, 999.0)
    pf[g, a, F_DAMAGE_DEALT] += damage
    pf[g, a, F_HITLAG] = hitlag
    pf[g, v, F_HITLAG] = hitlag
    pf[g, v, F_PEND_KB] = kb
    pf[g, v, F_PEND_ANGLE] = angle
    pf[g, v, F_HITSTUN] = math.floor(HITSTUN_PER_KB * kb)
    pf[g, v, F_VX] = 0.0
    pf[g, v, F_VY] = 0.0
    # the launch speed shows during hitlag (before DI, as Slippi records it); DI turns it
    # when hitlag ends (player.launch)
    rad = math.radians(angle)
    pf[g, v, F_KBX] = KB_SPEED * kb * math.cos(rad)
    pf[g, v, F_KBY] = KB_SPEED * kb * math.sin(rad)
    if grounded and kb < TUMBLE_KB and math.sin(rad) <= 1e-6:
        pf[g, v, F_KBY] = 0.0
    pf[g, v, F_FACING] = -direction
    pi[g, v, I_TUMBLE] = 1 if kb >= TUMBLE_KB else 0
    pi[g, v, I_LASTHIT] = a
    pi[g, v, I_LEDGE] = 0
    release_grab(pf, pi, first_frame, g, v)
    level = 0 if kb < 40 else (1 if kb < 60 else 2)
    if kb >= TUMBLE_KB:
        set_action(pf, pi, first_frame, g, v, DAMAGE_FLY_NEUTRAL)
    elif grounded:
        set_action(pf, pi, first_frame, g, v, 78 + level)  # DAMAGE_NEUTRAL_1..3
    else:
        set_action(pf, pi, first_frame, g, v, DAMAGE_AIR_1 + level)
    pi[g, a, I_HITDONE] |= 1 << int(hb[c, kind, fi, slot, H_HIT])


@jitable
def apply_shield_hit(pf, pi, hb, first_frame, g, a, kind, fi, slot):
    v = 1 - a
    c = pi[g, a, I_CHAR]
    damage = hb[c, kind, fi, slot, H_DMG]
    hitlag = hb[c, kind, fi, slot, H_HITLAG]
    pf[g, a, F_HITLAG] = hitlag
    pf[g, v, F_HITLAG] = hitlag
    pf[g, v, F_SHIELD] -= damage
    pi[g, a, I_HITDONE] |= 1 << int(hb[c, kind, fi, slot, H_HIT])
    if pf[g, v, F_SHIELD] <= 0:
        pf[g, v, F_SHIELD] = SHIELD_MAX / 2
        pf[g, v, F_VY] = SHIELD_BREAK_VY
        pf[g, v, F_Y] += 0.01
        go_airborne(pf, pi, first_frame, g, v, SHIELD_BREAK_FLY)
        return
    set_action(pf, pi, first_frame, g, v, SHIELD_STUN)
    pi[g, v, I_TIMER] = int(hb[c, kind, fi, slot, H_SSTUN])


@jitable
def apply_grab(pf, pi, first_frame, g, a):
    v = 1 - a
    set_action(pf, pi, first_frame, g, a, GRAB_WAIT)
    set_action(pf, pi, first_frame, g, v, GRABBED)
    pi[g, a, I_GRAB] = 1
    pi[g, v, I_GRAB] = 2
    pi[g, a, I_TIMER] = GRAB_HOLD_BASE + int(pf[g, v, F_PERCENT])
    pi[g, v, I_GROUND] = pi[g, a, I_GROUND]
    pi[g, v, I_PLAT] = pi[g, a, I_PLAT]
    pi[g, v, I_LEDGE] = 0
    pf[g, v, F_FACING] = -pf[g, a, F_FACING]
    for f in (F_VX, F_VY, F_KBX, F_KBY, F_HITSTUN):
        pf[g, v, f] = 0.0
    pf[g, a, F_VX] = 0.0


@jitable
def resolve_hits(pf, pi, chars, hb, first_frame, g):
    contact0, slot0 = find_contact(pf, pi, chars, hb, g, 0)
    contact1, slot1 = find_contact(pf, pi, chars, hb, g, 1)
    kinds = (pi[g, 0, I_MOVE], pi[g, 1, I_MOVE])
    frames = (pi[g, 0, I_FIN], pi[g, 1, I_FIN])
    for a in range(2):
        contact = contact0 if a == 0 else contact1
        slot = slot0 if a == 0 else slot1
        if contact == CONTACT_HIT:
            # replays: a hit sends the victim away from the attacker (bair backward, ...)
            dx = pf[g, 1 - a, F_X] - pf[g, a, F_X]
            direction = pf[g, a, F_FACING] if dx == 0 else (1.0 if dx > 0 else -1.0)
            apply_hit(pf, pi, chars, hb, first_frame, g, a, kinds[a], frames[a], slot, direction)
        elif contact == CONTACT_SHIELD:
            apply_shield_hit(pf, pi, hb, first_frame, g, a, kinds[a], frames[a], slot)
        elif contact == CONTACT_GRAB and pi[g, 1 - a, I_GRAB] == 0:
            apply_grab(pf, pi, first_frame, g, a)
    for a in range(2):  # throws
        kind = pi[g, a, I_MOVE]
        if kind >= M_FTHROW and kind <= M_DTHROW and pi[g, a, I_GRAB] == 1:
            c = pi[g, a, I_CHAR]
            fi = pi[g, a, I_FIN]
            if fi <= MAX_FRAME and hb[c, kind, fi, 0, H_ACTIVE] > 0:
                face = pf[g, a, F_FACING]
                pi[g, a, I_GRAB] = 0
                pi[g, 1 - a, I_GRAB] = 0
                pi[g, 1 - a, I_GROUND] = 0
                apply_hit(pf, pi, chars, hb, first_frame, g, a, kind, fi, 0, -face if kind == M_BTHROW else face)


@jitable
def check_ko(pf, pi, stage, g, p):
    if pi[g, p, I_DEAD] > 0:
        return
    x, y = pf[g, p, F_X], pf[g, p, F_Y]
    out = (
        DEAD_LEFT
        if x < stage[S_BL]
        else (
            DEAD_RIGHT if x > stage[S_BR] else (DEAD_DOWN if y < stage[S_BB] else (DEAD_UP if y > stage[S_BT] else -1))
        )
    )
    if out < 0:
        return
    q = 1 - p
    if pi[g, p, I_GRAB] != 0:
        pi[g, q, I_GRAB] = 0
        pi[g, p, I_GRAB] = 0
    pi[g, p, I_STOCKS] -= 1
    pi[g, q, I_KOS] += 1
    pi[g, p, I_DEAD] = RESPAWN_DEAD_FRAMES
    pi[g, p, I_ACTION] = out
    pi[g, p, I_FIN] = 1
    pi[g, p, I_MOVE] = -1
    pi[g, p, I_MOTION] = -1
    pi[g, p, I_LEDGE] = 0
    pi[g, p, I_TUMBLE] = 0
    pi[g, p, I_HURTBOX] = 1
    for f in (F_VX, F_VY, F_KBX, F_KBY, F_HITSTUN, F_HITLAG, F_AFRAME):
        pf[g, p, f] = 0.0
    pf[g, p, F_PEND_KB] = -1.0


@jitable
def end_of_frame(pf, pi, gi, stage, max_frames, g):
    for p in range(2):
        check_ko(pf, pi, stage, g, p)
    gi[g, G_FRAME] += 1
    s0, s1 = pi[g, 0, I_STOCKS], pi[g, 1, I_STOCKS]
    if s0 <= 0 or s1 <= 0:
        gi[g, G_DONE] = 1
        gi[g, G_WINNER] = WINNER_DRAW if s0 <= 0 and s1 <= 0 else (1 if s0 <= 0 else 0)
    elif gi[g, G_FRAME] >= max_frames:
        gi[g, G_DONE] = 1
        p0, p1 = pf[g, 0, F_PERCENT], pf[g, 1, F_PERCENT]
        if s0 != s1:
            gi[g, G_WINNER] = 0 if s0 > s1 else 1
        elif p0 != p1:
            gi[g, G_WINNER] = 0 if p0 < p1 else 1
        else:
            gi[g, G_WINNER] = WINNER_DRAW
    if gi[g, G_DONE]:
        gi[g, G_END_FRAME] = gi[g, G_FRAME]


def _physics(pf, pi, gi, ctrl, chars, moves, hb, motions, loco, first_frame, stage):
    for g in range(gi.shape[0]):
        if gi[g, G_DONE]:
            continue
        for p in range(2):
            read_controller(pf, pi, ctrl, g, p)
        for p in range(2):
            update_player(pf, pi, chars, moves, hb, motions, loco, first_frame, stage, g, p)


def _hits(pf, pi, gi, chars, hb, first_frame):
    for g in range(gi.shape[0]):
        if not gi[g, G_DONE]:
            resolve_hits(pf, pi, chars, hb, first_frame, g)


def _end(pf, pi, gi, stage, max_frames):
    for g in range(gi.shape[0]):
        if not gi[g, G_DONE]:
            end_of_frame(pf, pi, gi, stage, max_frames, g)


def _step(pf, pi, gi, ctrl, chars, moves, hb, motions, loco, first_frame, stage, max_frames):
    for g in range(gi.shape[0]):
        if gi[g, G_DONE]:
            continue
        for p in range(2):
            read_controller(pf, pi, ctrl, g, p)
        for p in range(2):
            update_player(pf, pi, chars, moves, hb, motions, loco, first_frame, stage, g, p)
        resolve_hits(pf, pi, chars, hb, first_frame, g)
        end_of_frame(pf, pi, gi, stage, max_frames, g)


# The kernels: physics (inputs, state machine, movement), hit detection, KOs and game end,
# and all three fused in one pass over the games (what the environment runs).
physics_kernel = kernel(_physics)
hits_kernel = kernel(_hits)
end_kernel = kernel(_end)
step_kernel = kernel(_step)
REFERENCE_STEP = _step
