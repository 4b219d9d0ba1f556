"""Policies by name: :func:`get_policy` and :func:`policy_list`."""

from __future__ import annotations

from .._validation import plain
from .base import REGISTRY, Policy


def _parsers() -> list[type]:
    """The registered classes with their own :meth:`Policy.from_name` (e.g. TRAIL's ``trail-c``)."""
    out = []
    for cls in dict.fromkeys(REGISTRY.values()):
        if "from_name" in cls.__dict__:
            out.append(cls)
    return out


def get_policy(policy) -> Policy:
    """A policy object from a policy or a (case-insensitive) name such as ``"sprpt"``.

    Names are those of the policy classes (``name`` and ``aliases``), registered when a class
    is defined, a user's subclass of :class:`Policy` included; parametrised names such as
    ``"trail-0.5"`` go through the classes' :meth:`Policy.from_name`."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, type) and issubclass(policy, Policy):
        return policy()
    if isinstance(policy, str):
        key = policy.strip().lower()
        for cls in _parsers():
            found = cls.from_name(key)
            if found is not None:
                return found
        if key in REGISTRY:
            cls = REGISTRY[key]
            try:
                return cls()
            except TypeError as exc:
                raise ValueError(f"policy {policy!r} needs parameters: construct it as "
                                 f"{cls.__name__}(...) ({exc})") from None
        patterns = [c.name_pattern for c in _parsers() if c.name_pattern]
        raise ValueError(f"unknown policy name {policy!r}; known names: "
                         + ", ".join(sorted(REGISTRY)) + "".join(f" ({p})" for p in patterns))
    raise TypeError(f"policy must be a Policy or a name, got {policy!r}")


def policy_list(policies) -> list[Policy]:
    """``policies`` (one policy, a name, a Policy class, or a sequence of them) as a list of
    :class:`Policy`; ``TypeError`` naming ``policies`` otherwise."""
    if isinstance(policies, (str, Policy)) or (isinstance(policies, type) and issubclass(policies, Policy)):
        policies = (policies,)
    if not hasattr(policies, "__iter__"):
        raise TypeError(f"policies must be a sequence of policies or names, got policies={plain(policies)}")
    return [get_policy(p) for p in policies]
