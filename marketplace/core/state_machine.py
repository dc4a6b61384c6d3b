"""A status change checked against a table of allowed moves.

Callers hold the row lock (`select_for_update`) and write the audit event; this only decides.
"""

from collections.abc import Mapping

from marketplace.core.exceptions import ConflictError


class TransitionNotAllowed(ConflictError):
    code = "transition_not_allowed"


def check_transition(
    *, table: Mapping[str, frozenset[str]], current: str, target: str, label: str
) -> None:
    allowed = table.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none (final status)"
        raise TransitionNotAllowed(
            f"A {label} cannot go from '{current}' to '{target}'. "
            f"Allowed from '{current}': {options}.",
            extra={"from": current, "to": target, "allowed": sorted(allowed)},
        )
