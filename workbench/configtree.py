"""Typed config trees, in one place: dicts <-> nested config dataclasses, typed
``KEY=VALUE`` overrides, and command-line flags derived from field metadata.

A config is a dataclass whose fields are plain values or further config dataclasses
(sections). :func:`decode` builds one from a (sparse) dict: every key is checked against
the fields (an unknown key is a :class:`ConfigError` naming the valid keys and the
closest match), every leaf is coerced to its annotated type (``train.lr=abc`` is an
error, ``"3e-4"`` a float). A section whose class has ``subclass_for(name)`` (the
backbone config) is polymorphic: its ``name`` key picks the registered subclass, whose
fields are then the valid keys; switching ``name`` drops the options the new class does
not have (they came from a file or the defaults), while a key the user sets is checked
against the class in force.

Flags: a field declared ``option(64, flag="--window", help=...)`` becomes that flag on
any command that calls ``add_flags(parser, Root)``. ``flag_updates(values, Root)`` turns
parsed flag values (or keyword arguments of the same names) into ``(dotted.path,
value)`` updates; ``build(Root, file, updates, overrides)`` applies, in order, defaults
< file < flags < ``--set KEY=VALUE``. Adding an option is adding a field.

Why a small walker and not tyro: the workbench keeps short curated flags (``--lr``,
``--delay 2-6``, ``--time-budget 20m``) beside ``--set`` for every other field, and
the backbone section's valid keys depend on a name chosen at run time (a registry),
which tyro models as subcommands; ~250 lines here avoid a dependency and keep one
error style.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Callable, Iterable, Union, get_args, get_origin

from workbench.errors import ConfigError

FLAG_KEY = "workbench_flag"
NAME = "name"  # the key that picks a polymorphic section's subclass


@dataclass(frozen=True)
class Flag:
    """A command-line flag for one config field.

    ``parse(raw) -> value`` turns the flag's text (or a Python value given as a keyword
    argument) into the field's value; with ``expand`` it returns ``{field: value}``
    updates of the field's own section instead (``--delay 2-6`` sets two fields). A
    flag on a section field sets a mapping that is merged into the section."""

    name: str
    help: str = ""
    metavar: str | None = None
    parse: Callable[[Any], Any] | None = None
    expand: bool = False
    nargs: str | None = None
    group: str | None = None  # flags sharing a group are mutually exclusive
    choices: tuple | None = None

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


def option(
    default: Any = MISSING,
    *,
    flag: str | None = None,
    help: str = "",
    default_factory: Any = MISSING,
    **flag_options: Any,
) -> Any:
    """A dataclass field, optionally with a command-line flag (see :class:`Flag`)."""
    metadata = {FLAG_KEY: Flag(flag, help, **flag_options)} if flag else {}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# -- the tree ----------------------------------------------------------------------------
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list:
    return [f for f in fields(cls) if f.init]


def _polymorphic(cls: type) -> bool:
    return callable(getattr(cls, "subclass_for", None))


def _section(tp: Any) -> type | None:
    """The dataclass a field holds, or None for a plain value."""
    return tp if isinstance(tp, type) and is_dataclass(tp) else None


def _default(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def valid_keys(cls: type) -> list[str]:
    return ([NAME] if _polymorphic(cls) else []) + [f.name for f in _fields(cls)]


def _section_class(base: type, value: Any, default: Any) -> type:
    """The class a section decodes into: a polymorphic base picks its subclass by name
    (the default's class when no name is given)."""
    if not _polymorphic(base):
        return base
    if is_dataclass(value) and isinstance(value, base):
        return type(value)
    name = value.get(NAME) if isinstance(value, dict) else None
    if name is None:
        return type(default) if is_dataclass(default) else base
    return base.subclass_for(name)


def unknown_key(key: str, valid: list[str], where: str, cls: type) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f" (did you mean {_join(where, close[0])}?)" if close else ""
    owner = f" for {cls.name} {getattr(cls, 'kind', 'backbone')}" if _polymorphic(cls) else ""
    inside = f" in {where}" if where else ""
    return ConfigError(f"unknown option {_join(where, key)}{owner}{hint}; valid keys{inside}: {', '.join(valid)}")


# -- values ------------------------------------------------------------------------------
def _bad(key: str, value: Any, wanted: str) -> ConfigError:
    return ConfigError(f"{key}={value!r}: expected {wanted}")


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as type ``tp`` (a field annotation), or a ConfigError naming ``key``."""
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        options = [t for t in get_args(tp) if t is not type(None)]
        if value is None and len(options) < len(get_args(tp)):
            return None
        errors = []
        for option_type in options:
            try:
                return coerce(value, option_type, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if tp is bool:
        text = str(value).lower()
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and text in _TRUE | _FALSE:
            return text in _TRUE
        raise _bad(key, value, "true or false")
    if tp in (int, float):
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip()) if tp is float else int(value.strip())
            except ValueError:
                raise _bad(key, value, "an integer" if tp is int else "a number") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _bad(key, value, "an integer" if tp is int else "a number")
        if tp is int and isinstance(number, float) and not number.is_integer():
            raise _bad(key, value, "an integer")
        return tp(number)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _bad(key, value, "a string")
    if origin in (list, tuple) or tp in (list, tuple):
        return _coerce_sequence(value, tp, key)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _bad(key, value, "a mapping")
        args = get_args(tp)
        return {k: coerce(v, args[1], f"{key}.{k}") if args else v for k, v in value.items()}
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _bad(key, value, getattr(tp, "__name__", str(tp)))


def _coerce_sequence(value: Any, tp: Any, key: str) -> list | tuple:
    origin, args = get_origin(tp) or tp, get_args(tp)
    scalar_items = all(a in (str, int, float) or a is Ellipsis for a in args)
    if isinstance(value, str) and scalar_items:  # "fox,marth" on a command line
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise _bad(key, value, "a list")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise _bad(key, value, f"{len(args)} values")
        return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    item = args[0] if args else Any
    items = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


# -- dict <-> dataclass ------------------------------------------------------------------
def encode(obj: Any) -> Any:
    """A config dataclass (tree) as plain, JSON-able data; a polymorphic section keeps
    its ``name``."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {NAME: obj.name} if _polymorphic(type(obj)) else {}
        out.update({f.name: encode(getattr(obj, f.name)) for f in _fields(type(obj))})
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(encode(v) for v in obj)
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj


def decode(cls: type, data: Any, where: str = "") -> Any:
    """Build ``cls`` from a (sparse) dict; missing keys take the field defaults."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of options, got {data!r}")
    data = {k: v for k, v in data.items() if not (k == NAME and _polymorphic(cls))}
    valid, hints = valid_keys(cls), _hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in valid:
            raise unknown_key(key, valid, where, cls)
    for f in _fields(cls):
        if f.name not in data:
            continue
        value, key, section = data[f.name], _join(where, f.name), _section(hints[f.name])
        if section is not None and not isinstance(value, section):
            default = _default(f)
            sub = _section_class(section, value, default)
            if isinstance(value, dict) and type(default) is sub:
                value = {**encode(default), **value}  # a partial section keeps the defaults
            value = decode(sub, value, key)
        elif section is None:
            value = coerce(value, hints[f.name], key)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from None


def check_keys(cls: type, data: dict, where: str = "") -> None:
    """Every key of ``data`` (recursively) is a field of the tree; values unchecked."""
    valid, hints = valid_keys(cls), _hints(cls)
    for key, value in data.items():
        if key not in valid:
            raise unknown_key(key, valid, where, cls)
        if key == NAME and _polymorphic(cls):
            continue
        section = _section(hints[key])
        if section is not None and isinstance(value, dict):
            f = next(f for f in _fields(cls) if f.name == key)
            check_keys(_section_class(section, value, _default(f)), value, _join(where, key))


def set_path(root: type, data: dict, key: str, value: Any, merge: bool = False) -> None:
    """``data[a][b][c] = value`` for ``key`` "a.b.c", checked against the tree of
    ``root``. ``merge``: a mapping given for a section is merged into it."""
    parts = key.split(".")
    cls, node, where = root, data, ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == NAME and _polymorphic(cls) and last:
            _switch(cls, node, value, where)
            return
        if part not in valid_keys(cls):
            raise unknown_key(part, valid_keys(cls), where, cls)
        f = next(f for f in _fields(cls) if f.name == part)
        tp, where = _hints(cls)[part], _join(where, part)
        section = _section(tp)
        if last and not (merge and section is not None and isinstance(value, dict)):
            node[part] = value
            return
        child = node.get(part)
        if section is not None:
            if is_dataclass(child):
                child = encode(child)
            node[part] = child = child if isinstance(child, dict) else {}
            cls, node = _section_class(section, child, _default(f)), child
            if last:  # merge a mapping into the section, the name first
                for sub_key in sorted(value, key=lambda k: k != NAME):
                    set_path(cls, node, sub_key, value[sub_key])
                    cls = _section_class(section, node, _default(f))
                return
        elif get_origin(tp) is dict or tp is dict:  # policy.id_embed_dim.action=16
            if not isinstance(child, dict):
                default = _default(f)
                node[part] = child = dict(default) if isinstance(default, dict) else {}
            if index != len(parts) - 2:
                raise ConfigError(f"{key}: {_join(where, parts[index + 1])} is not a section")
            child[parts[-1]] = value
            return
        else:
            raise ConfigError(f"{key}: {where} is a value, not a section")


def _switch(base: type, node: dict, name: Any, where: str) -> None:
    """Pick another subclass of a polymorphic section: options it lacks are dropped."""
    new = base.subclass_for(name)
    valid = set(valid_keys(new))
    for key in [k for k in node if k not in valid]:
        del node[key]
    node[NAME] = name


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=3e-4"`` -> ("train.lr", "3e-4" parsed as YAML)."""
    import yaml

    match = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*=(.*)", text, re.S)
    if not match:
        raise ConfigError(f"--set {text!r}: write KEY=VALUE, e.g. train.lr=3e-4")
    try:
        value = yaml.safe_load(match.group(2))
    except yaml.YAMLError:
        value = match.group(2)
    return match.group(1), value


# -- flags -------------------------------------------------------------------------------
def flag_fields(root: type) -> list[tuple[str, Flag, Any]]:
    """(dotted path, flag, annotation) of every field of the tree that has a flag; the
    base class of a polymorphic section contributes its own fields' flags."""
    out: list[tuple[str, Flag, Any]] = []

    def walk(cls: type, where: str) -> None:
        hints = _hints(cls)
        for f in _fields(cls):
            path = _join(where, f.name)
            if FLAG_KEY in f.metadata:
                out.append((path, f.metadata[FLAG_KEY], hints[f.name]))
            if (section := _section(hints[f.name])) is not None:
                walk(section, path)

    walk(root, "")
    return out


def add_flags(parser: argparse.ArgumentParser, root: type) -> None:
    """Add the flags of ``root``'s tree to ``parser`` (raw values, None when not given)."""
    groups: dict[str, Any] = {}
    for _, flag, tp in flag_fields(root):
        target = parser
        if flag.group:
            if flag.group not in groups:
                groups[flag.group] = parser.add_mutually_exclusive_group()
            target = groups[flag.group]
        kwargs: dict[str, Any] = {"dest": flag.dest, "default": None, "help": flag.help}
        if tp is bool and flag.parse is None:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = flag.metavar
            sequence = get_origin(tp) in (list, tuple) and flag.parse is None
            kwargs["nargs"] = flag.nargs or ("+" if sequence else None)
            if flag.choices:
                kwargs["choices"] = flag.choices
        target.add_argument(flag.name, **kwargs)


def flag_updates(values: dict[str, Any], root: type, strict: bool = True) -> list[tuple[str, Any]]:
    """Flag values by dest name (``--max-steps`` -> ``max_steps``) as ``(path, value)``
    updates; None means not given. ``strict``: an unknown name is an error (keyword
    arguments); otherwise it is ignored (an argparse namespace has other arguments)."""
    known = {flag.dest: (path, flag, tp) for path, flag, tp in flag_fields(root)}
    updates: list[tuple[int, str, Any]] = []
    for name, value in values.items():
        if value is None:
            continue
        if name not in known:
            if strict:
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"unknown option {name}{hint}; valid: {', '.join(known)}")
            continue
        path, flag, tp = known[name]
        parsed = flag.parse(value) if flag.parse else coerce(value, tp, flag.name)
        if flag.expand:
            section = path.rpartition(".")[0]
            updates += [(1, _join(section, k), v) for k, v in parsed.items()]
        else:  # a section's mapping (the backbone's name) goes first, plain values last
            updates.append((0 if isinstance(parsed, dict) else 2, path, parsed))
    return [(path, value) for _, path, value in sorted(updates, key=lambda u: u[0])]


def build(
    root: type, file: str | dict | None = None, updates: Iterable[tuple[str, Any]] = (), overrides: Iterable[str] = ()
) -> Any:
    """Defaults < ``file`` (YAML/JSON path or dict) < ``updates`` < ``overrides``
    (``KEY=VALUE``); every key checked before anything is built."""
    from workbench.io import load_config_file

    data: dict = {}
    if file is not None:
        loaded = dict(file) if isinstance(file, dict) else load_config_file(file)
        if callable(upgrade := getattr(root, "upgrade", None)):
            loaded = upgrade(loaded)
        try:
            check_keys(root, loaded)
        except ConfigError as err:
            raise ConfigError(f"{file if not isinstance(file, dict) else 'config'}: {err}") from None
        data = loaded
    for key, value in updates:
        set_path(root, data, key, value, merge=isinstance(value, dict))
    parsed = [parse_override(text) for text in overrides]
    for key, value in sorted(parsed, key=lambda kv: not kv[0].endswith("." + NAME)):
        set_path(root, data, key, value)
    return decode(root, data)
