"""`folio flags`: the failure-drill flags in the embedded config center (`<config dir>/shared.yaml`).

Every service watches that file and applies a change within about a second; a value the
services would reject is refused here first, with the same message.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from folio_platform.config import SHARED, Flags, LiveSettings, describe, parse_document


@dataclass(frozen=True)
class Flag:
    name: str  # "payment.failure_rate"
    default: Any
    description: str


def all_flags() -> list[Flag]:
    """Every flag the config model knows, as section.field."""
    found = []
    for section, info in Flags.model_fields.items():
        model = info.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        for field, field_info in model.model_fields.items():
            found.append(Flag(f"{section}.{field}", field_info.default, field_info.description or ""))
    return found


class FlagError(ValueError):
    """A flag name or value the services would not accept."""


def path(config_dir: Path) -> Path:
    return config_dir / f"{SHARED}.yaml"


def load(config_dir: Path) -> dict[str, Any]:
    file = path(config_dir)
    return parse_document(SHARED, file.read_text() if file.exists() else None)


def current(config_dir: Path) -> dict[str, Any]:
    """Each flag's value in effect: the file's, else the default (invalid file: FlagError)."""
    try:
        settings = LiveSettings.model_validate(load(config_dir))
    except (ValueError, ValidationError) as error:
        reason = describe(error) if isinstance(error, ValidationError) else str(error)
        raise FlagError(
            f"{path(config_dir)} is invalid (services keep their last good config): {reason}"
        ) from None
    values = settings.flags.model_dump()
    return {flag.name: values[flag.name.split(".")[0]][flag.name.split(".")[1]] for flag in all_flags()}


def _write(config_dir: Path, document: dict[str, Any]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    target = path(config_dir)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(yaml.safe_dump(document, sort_keys=True) if document else "")
    temporary.replace(target)  # atomic: a service never reads half a file


def _parse_value(text: str) -> Any:
    # YAML scalars: 0.5, 300, true/false, as a person would write them in the file.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_flag(config_dir: Path, name: str, value: str) -> Any:
    """Set one flag, validated like the services validate it; returns the value stored."""
    known = {flag.name for flag in all_flags()}
    if name not in known:
        raise FlagError(f"unknown flag {name!r}; known flags: {', '.join(sorted(known))}")
    section, field = name.split(".")
    document = load(config_dir)
    flags = document.setdefault("flags", {})
    flags.setdefault(section, {})[field] = _parse_value(value)
    try:
        settings = LiveSettings.model_validate(document)
    except ValidationError as error:
        raise FlagError(f"{name}={value}: {describe(error)}") from None
    _write(config_dir, document)
    return getattr(getattr(settings.flags, section), field)


def clear(config_dir: Path, name: str | None = None) -> list[str]:
    """Clear one flag (or every flag) back to its default; returns the names cleared."""
    document = load(config_dir)
    flags: dict[str, dict[str, Any]] = document.get("flags") or {}
    if name is None:
        cleared = [f"{s}.{f}" for s, fields in flags.items() for f in (fields or {})]
        document.pop("flags", None)
    else:
        if name not in {flag.name for flag in all_flags()}:
            raise FlagError(f"unknown flag {name!r}")
        section, field = name.split(".")
        cleared = [name] if field in (flags.get(section) or {}) else []
        (flags.get(section) or {}).pop(field, None)
        if section in flags and not flags[section]:
            del flags[section]
        if not flags:
            document.pop("flags", None)
    _write(config_dir, document)
    return cleared
