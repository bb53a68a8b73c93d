"""Melee action-state ids the simulator enters (libmelee's ``enums.Action`` values, the
ids the replays and the frame store use), and the controller thresholds it reads.

Thresholds are Melee's: the processed stick reads 0 inside 0.2875 per axis (23/80); a
smash input is the stick pushed past 0.8 (x) or 0.6625 (y) from inside the dead zone
within two frames; analog shield starts at a trigger of 0.3.
"""

from __future__ import annotations

DEAD_DOWN, DEAD_LEFT, DEAD_RIGHT, DEAD_UP = 0, 1, 2, 3
ON_HALO_DESCENT, ON_HALO_WAIT = 12, 13
STANDING, WALK_SLOW, WALK_MIDDLE, WALK_FAST, TURNING, TURNING_RUN = 14, 15, 16, 17, 18, 19
DASHING, RUNNING, RUN_BRAKE, KNEE_BEND = 20, 21, 23, 24
JUMPING_FORWARD, JUMPING_BACKWARD, JUMPING_ARIAL_FORWARD, JUMPING_ARIAL_BACKWARD = 25, 26, 27, 28
FALLING, DEAD_FALL, TUMBLING = 29, 35, 38
CROUCH_START, CROUCHING, CROUCH_END, LANDING, LANDING_SPECIAL = 39, 40, 41, 42, 43
NAIR_LANDING = 70  # +0..4: nair, fair, bair, uair, dair landing
DAMAGE_HIGH_1, DAMAGE_AIR_1, DAMAGE_FLY_HIGH, DAMAGE_FLY_NEUTRAL = 75, 84, 87, 88
SHIELD_START, SHIELD, SHIELD_RELEASE, SHIELD_STUN = 178, 179, 180, 181
TECH_MISS_UP, LYING_GROUND_UP = 183, 184
SHIELD_BREAK_FLY, SHIELD_BREAK_FALL, SHIELD_BREAK_DOWN_U, SHIELD_BREAK_STAND_U = 205, 206, 207, 209
GRAB_WAIT, GRAB_BREAK, GRABBED, GRAB_ESCAPE = 216, 218, 227, 229
THROWN_FORWARD = 239  # +0..3: forward, back, up, down
PLATFORM_DROP = 244
EDGE_CATCHING, EDGE_HANGING, EDGE_JUMP_1_QUICK = 252, 253, 262

DEAD_ZONE = 0.2875
SMASH_X = 0.8
SMASH_Y = 0.6625
CROUCH_Y = -0.6875  # Melee enters squat past -0.6875 (-55/80)
TRIGGER_SHIELD = 0.3

# Controller columns (workbench.embed.controller.CONTROLLER_COLUMNS): main x/y, c x/y,
# trigger, then the buttons A B X Y Z L R D_UP; their Slippi button bits:
BUTTON_BITS = (0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x0008)
BIT_A, BIT_B, BIT_X, BIT_Y, BIT_Z, BIT_L, BIT_R, BIT_DUP = BUTTON_BITS
NEUTRAL_TECH, FORWARD_TECH, BACKWARD_TECH = 199, 200, 201
ROLL_FORWARD, ROLL_BACKWARD, SPOTDODGE, AIRDODGE = 233, 234, 235, 236
