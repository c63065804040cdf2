"""The run config's small checks, each failing with one line that names the key."""

from __future__ import annotations


class ConfigError(ValueError):
    """A run config mistake: one line naming the key (`training.epochs: ...`)."""


def check_keys(mapping: dict, known, where: str) -> None:
    unknown = [k for k in mapping if k not in known]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key; {where or 'a run config'} takes: "
            f"{', '.join(known)}."
        )


def check_choice(value, choices, key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)}.")


def as_list(value, key: str) -> list:
    if isinstance(value, (str, int, float)):
        return [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: a list; got {value!r}.")
    return value


def column_names(value, key: str) -> list:
    value = as_list(value, key)
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: a list of column names; got {value!r}.")
    return list(value)


def is_number(text: str) -> bool:
    """True when the text `text` reads as a number ("3", "-0.5", "1e3")."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
