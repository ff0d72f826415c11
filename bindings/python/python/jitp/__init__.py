"""jitp: just-in-time authorisation decisions from a verified policy bundle.

>>> import jitp
>>> bundle = jitp.Bundle.from_file("policy.jitb")
>>> d = bundle.decide({"subject": ..., "action": ..., "resource": ..., "now": ...})
>>> d.allowed, d.reason

See ``docs/bindings.md`` for the whole API.
"""

from ._native import (
    Bundle,
    BundleError,
    CompileError,
    Decision,
    Error,
    RequestError,
    __version__,
    compile,
)

__all__ = [
    "Bundle",
    "BundleError",
    "CompileError",
    "Decision",
    "Error",
    "RequestError",
    "__version__",
    "compile",
]
