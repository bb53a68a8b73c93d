"""Reads a replay's header without parsing its frames: the UBJSON prefix, the event
payload sizes, the game-start block and the game-end block.

Used to classify files before (and when) a parser fails: not a Slippi file, truncated,
Home-Run Contest, and to fill game-start fields that py-slippi does not decode. Offsets
follow the Slippi replay spec (project-slippi/slippi-wiki, SPEC.md), with the command byte
at offset 0x0 of each event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from workbench.types import FIRST_FRAME, HOME_RUN_STAGE, TARGET_TEST_STAGES, GameMeta, PlayerInfo

SLP_PREFIX = b"{U\x03raw[$U#l"
EVENT_PAYLOADS = 0x35
GAME_START = 0x36
GAME_END = 0x39
PLAYER_TYPES = {0: "human", 1: "cpu", 2: "demo", 3: "empty"}
END_METHODS = {0: "unresolved", 1: "time", 2: "game", 3: "resolved", 7: "no_contest"}


class HeaderError(ValueError):
    """The header could not be decoded; ``kind`` is "empty", "not_slippi" or "corrupt"."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


@dataclass
class RawHeader:
    version: tuple[int, int, int]
    raw_length: int  # 0 for replays that were never finalized
    payload_sizes: dict[int, int]
    stage: int
    is_teams: bool
    player_types: list[str]  # per port, "empty" when nobody sat there
    characters: list[int]  # external ids per port
    scene_major: int | None = None  # 3.7+
    scene_minor: int | None = None
    is_pal: bool | None = None
    name_tags: list[str] = field(default_factory=list)
    display_names: list[str] = field(default_factory=list)  # 3.9+
    connect_codes: list[str] = field(default_factory=list)  # 3.9+
    cpu_levels: list[int] = field(default_factory=list)
    teams: list[int] = field(default_factory=list)
    match_id: str = ""  # 3.14+
    game_number: int | None = None
    tiebreaker: int | None = None
    end_method: str | None = None  # from the game-end block, when the file has one
    lras_port: int | None = None
    placements: dict[int, int] | None = None

    @property
    def version_str(self) -> str:
        return ".".join(str(v) for v in self.version)

    @property
    def ports(self) -> list[int]:
        return [p for p, t in enumerate(self.player_types) if t != "empty"]


def _cstr(block: bytes, start: int, length: int, encoding: str = "cp932") -> str:
    # cp932 (Windows Shift-JIS) maps 0x8160 to U+FF5E like peppi does; plain shift_jis would not.
    raw = block[start : start + length].split(b"\0", 1)[0]
    text = raw.decode(encoding, errors="replace")
    # Slippi writes the tag separator as a full-width '＃'; libmelee shows '#'.
    return text.replace("\uff03", "#")


def read_header(data: bytes) -> RawHeader:
    """Decode the header of a replay held in memory. Raises :class:`HeaderError`."""
    if len(data) == 0:
        raise HeaderError("empty", "0 bytes")
    if not data.startswith(SLP_PREFIX):
        raise HeaderError("not_slippi", "missing the UBJSON 'raw' prefix of .slp files")
    if len(data) < 17:
        raise HeaderError("corrupt", f"only {len(data)} bytes")
    raw_length = struct.unpack(">I", data[11:15])[0]
    pos = 15
    if data[pos] != EVENT_PAYLOADS:
        raise HeaderError("corrupt", "first event is not the event-payloads table")
    table_size = data[pos + 1]
    sizes: dict[int, int] = {}
    for k in range((table_size - 1) // 3):
        at = pos + 2 + 3 * k
        if at + 3 > len(data):
            raise HeaderError("corrupt", "event-payloads table cut short")
        sizes[data[at]] = struct.unpack(">H", data[at + 1 : at + 3])[0]
    pos += table_size + 1
    if GAME_START not in sizes or pos >= len(data) or data[pos] != GAME_START:
        raise HeaderError("corrupt", "no game-start event")
    gs = data[pos : pos + sizes[GAME_START] + 1]
    if len(gs) < 0x13D:
        raise HeaderError("corrupt", "game-start block cut short")
    header = _decode_game_start(gs, raw_length, sizes)
    _decode_game_end(data, header)
    return header


def _decode_game_start(gs: bytes, raw_length: int, sizes: dict[int, int]) -> RawHeader:
    version = (gs[1], gs[2], gs[3])
    u8 = lambda off: gs[off] if off < len(gs) else None  # noqa: E731
    header = RawHeader(
        version=version,
        raw_length=raw_length,
        payload_sizes=sizes,
        stage=struct.unpack(">H", gs[0x13:0x15])[0],
        is_teams=bool(gs[0xD]),
        player_types=[PLAYER_TYPES.get(gs[0x66 + 0x24 * p], "empty") for p in range(4)],
        characters=[gs[0x65 + 0x24 * p] for p in range(4)],
        cpu_levels=[gs[0x74 + 0x24 * p] for p in range(4)],
        teams=[gs[0x6E + 0x24 * p] for p in range(4)],
    )
    if version >= (1, 3, 0) and len(gs) >= 0x1A1:
        header.name_tags = [_cstr(gs, 0x161 + 0x10 * p, 0x10) for p in range(4)]
    if version >= (1, 5, 0) and u8(0x1A1) is not None:
        header.is_pal = bool(gs[0x1A1])
    if version >= (3, 7, 0) and u8(0x1A4) is not None:
        header.scene_minor, header.scene_major = gs[0x1A3], gs[0x1A4]
    if version >= (3, 9, 0) and len(gs) >= 0x249:
        header.display_names = [_cstr(gs, 0x1A5 + 0x1F * p, 0x1F) for p in range(4)]
        header.connect_codes = [_cstr(gs, 0x221 + 0xA * p, 0xA) for p in range(4)]
    if version >= (3, 14, 0) and len(gs) >= 0x2F9:
        header.match_id = _cstr(gs, 0x2BE, 51, "ascii")
        header.game_number, header.tiebreaker = struct.unpack(">II", gs[0x2F1:0x2F9])
    return header


def _decode_game_end(data: bytes, header: RawHeader) -> None:
    """Fill the end fields from the game-end event, the last event of a finalized file."""
    size = header.payload_sizes.get(GAME_END)
    if not header.raw_length or size is None:
        return
    end = 15 + header.raw_length
    start = end - size - 1
    if end > len(data) or start < 0 or data[start] != GAME_END:
        return
    ge = data[start:end]
    header.end_method = END_METHODS.get(ge[1], "unknown")
    if header.version >= (2, 0, 0) and len(ge) > 2:
        lras = struct.unpack(">b", ge[2:3])[0]
        header.lras_port = lras if lras >= 0 else None
    if header.version >= (3, 13, 0) and len(ge) >= 7:
        places = struct.unpack(">4b", ge[3:7])
        header.placements = {p: v for p, v in enumerate(places) if v >= 0}


def game_mode(stage: int, scene_major: int | None) -> str:
    """'versus', 'online', 'home_run', 'target_test' or 'other' (single-player modes).

    The scene is recorded from Slippi 3.7; older files are told apart by stage alone.
    """
    if stage == HOME_RUN_STAGE or scene_major == 32:
        return "home_run"
    if stage in TARGET_TEST_STAGES or scene_major == 15:
        return "target_test"
    if scene_major == 8:
        return "online"
    if scene_major in (None, 2):
        return "versus"
    return "other"


def meta_from_header(header: RawHeader, metadata: dict) -> GameMeta:
    """Game metadata from the raw game-start/end blocks and the replay's metadata block."""
    meta_players = metadata.get("players", {}) if isinstance(metadata, dict) else {}
    players = []
    for port in header.ports:
        names = (meta_players.get(str(port)) or {}).get("names", {})
        display = header.display_names[port] if header.display_names else ""
        code = header.connect_codes[port] if header.connect_codes else ""
        players.append(
            PlayerInfo(
                port=port,
                character=header.characters[port],
                type=header.player_types[port],
                netplay_name=display or names.get("netplay", "") or "",
                netplay_code=(code or names.get("code", "") or "").replace("\uff03", "#"),
                name_tag=header.name_tags[port] if header.name_tags else "",
                team=header.teams[port] if header.is_teams else None,
                cpu_level=header.cpu_levels[port] if header.player_types[port] == "cpu" else None,
            )
        )
    meta = GameMeta(
        slippi_version=header.version_str,
        stage=header.stage,
        players=players,
        mode=game_mode(header.stage, header.scene_major),
        is_teams=header.is_teams,
        is_pal=bool(header.is_pal),
        start_at=str(metadata.get("startAt", "") or ""),
        played_on=str(metadata.get("playedOn", "") or ""),
        match_id=header.match_id,
        game_number=header.game_number,
        tiebreaker=header.tiebreaker,
        first_frame=FIRST_FRAME,
    )
    meta.end_method = header.end_method or "unknown"
    meta.lras_port = header.lras_port
    meta.placements = dict(header.placements or {})
    return meta
