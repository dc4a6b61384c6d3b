"""A status change checked against a table of allowed moves.

Callers hold the row lock (`select_for_update`) and write the audit event; this only decides.
"""

from collections.abc import Mapping

from django.utils.translation import gettext

from marketplace.core.exceptions import ConflictError


class TransitionNotAllowed(ConflictError):
    code = "transition_not_allowed"


def check_transition(
    *, table: Mapping[str, frozenset[str]], current: str, target: str, label: str
) -> None:
    allowed = table.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or gettext("none (final status)")
        raise TransitionNotAllowed(
            gettext(
                "A %(label)s cannot go from '%(current)s' to '%(target)s'. "
                "Allowed from '%(current)s': %(options)s."
            )
            % {"label": label, "current": current, "target": target, "options": options},
            extra={"from": current, "to": target, "allowed": sorted(allowed)},
        )
