"""Configuration engine: frozen dataclasses read from partial dicts, YAML or TOML, overridable by key.

Every configuration of leadattn (the model, preprocessing, training, pretraining) is a frozen dataclass
that inherits :class:`Config`. ``from_dict`` fills the defaults with a partial, nested mapping and
converts each value to its field's annotated type; ``replace`` takes dotted keys (``optim.lr``);
``to_dict`` gives plain lists and dicts, as stored in checkpoints and ``config.yaml``. Unknown keys
and values of the wrong type are :class:`ConfigError` naming the key.

Numeric limits are declared with the field (:func:`bounded`) and checked on construction, every entry
of a tuple alike; a section's ``__post_init__`` (calling ``super().__post_init__()``) checks only what
relates several fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import operator
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union

import tomllib
import yaml

from leadattn.errors import LeadattnError


class ConfigError(LeadattnError, ValueError):
    """A configuration file or override that names an unknown key or gives a value of the wrong type."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def bounded(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    note: str = "",
) -> Any:
    """A dataclass field whose value (each entry, for a tuple; None passes) must lie within the limits.

    ``note`` is added to the error, e.g. ``"0 disables clipping"``.
    """
    pairs = ((">=", ge), (">", gt), ("<=", le), ("<", lt))
    limits = tuple((op, bound) for op, bound in pairs if bound is not None)
    return dataclasses.field(default=default, metadata={"limits": limits, "note": note})


_HOLDS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}

C = TypeVar("C", bound="Config")


class Config:
    """Reading, overriding and writing for frozen configuration dataclasses.

    ``section`` names the configuration in errors (``optim`` for ``optim.lr must be > 0``).
    """

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for item in fields(self):
            limits = item.metadata.get("limits")
            value = getattr(self, item.name)
            if not limits or value is None:
                continue
            values = value if isinstance(value, tuple) else (value,)
            if not all(_HOLDS[op](v, bound) for v in values for op, bound in limits):
                where = f"{self.section}.{item.name}" if self.section else item.name
                each = "every entry of " if isinstance(value, tuple) else ""
                wanted = " and ".join(f"{op} {bound:g}" for op, bound in limits)
                note = f" ({item.metadata['note']})" if item.metadata["note"] else ""
                raise ConfigError(f"{each}{where} must be {wanted}{note}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dictionary (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """Defaults updated by ``values``, which may be partial; unknown keys are an error."""
        return _merge(cls(), values)

    def replace(self: C, overrides: Mapping[str, Any]) -> C:
        """A copy with dotted keys set, e.g. ``{"optim.lr": 3e-4}``."""
        return _merge(self, _nest(overrides))


# ---------------------------------------------------------------------------------------------------
# Reading and writing


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["optim.lr=3e-4", ...]`` to ``{"optim.lr": "3e-4" parsed as YAML, ...}``."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.lr=3e-4)")
        try:
            parsed[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({error})") from None
    return parsed


def apply_overrides(config: C, overrides: Iterable[str]) -> C:
    """Apply ``key=value`` strings such as ``optim.lr=3e-4`` (values parsed as YAML)."""
    parsed = parse_overrides(overrides)
    return config.replace(parsed) if parsed else config


def save_config(config: Config, path: str | Path) -> Path:
    """Write the resolved configuration as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path


def read_mapping(text: str, suffix: str, where: str) -> dict[str, Any]:
    suffix = suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{where}: config files must be .yaml, .yml or .toml")
    try:
        values = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text) or {}
    except (yaml.YAMLError, ValueError) as error:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{where} cannot be parsed: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must hold a mapping of sections (data, model, optim, ...)")
    return values


# ---------------------------------------------------------------------------------------------------
# Merging and type conversion


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override")
        node[parts[-1]] = value
    return nested


def _merge(base: Any, values: Mapping[str, Any], prefix: str = "") -> Any:
    """A copy of dataclass ``base`` with ``values`` (a nested mapping) converted and set."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(type(base))
    known = [f.name for f in fields(base)]
    changes: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown config key {where!r}{hint}")
        current = getattr(base, key)
        if is_dataclass(current) and value is None:  # an empty section in a file
            continue
        if is_dataclass(current):
            changes[key] = _merge(current, value, f"{where}.")
        else:
            changes[key] = _coerce(value, hints[key], where)
    try:
        return dataclasses.replace(base, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {error}") from None


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to the annotated type ``hint``, or a ConfigError naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {hint}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where} must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return int(number)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(hint)}")
