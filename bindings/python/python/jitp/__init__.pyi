"""Type stubs of the jitp package (the native module jitp._native)."""

import datetime
import os
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Union

__version__: str

Request = Union[Mapping[str, Any], str]
"""A request: a dict of JSON values, or JSON text."""

StrPath = Union[str, "os.PathLike[str]"]

class Error(Exception):
    """Base of every error jitp raises."""

class BundleError(Error):
    """A bundle could not be read or failed verification (truncated,
    corrupt, forged, another format version). The message says where."""

class RequestError(Error):
    """A request is not JSON text, holds a value JSON cannot (a set, a NaN,
    bytes, a datetime, a non-string key: the message gives its path), or
    is larger than 1 MiB or nested deeper than 32 levels.

    A request that is JSON but does not fit the policy's schema is not an
    error: it is decided, a deny with reason ``invalid_request``."""

class CompileError(Error):
    """Policies did not compile: the message holds the located, rendered
    diagnostics (as ``jitp check`` prints them, without colour)."""



class Decision:
    """One decision. Immutable."""

    @property
    def allowed(self) -> bool:
        """True exactly when ``decision == "allow"``."""
    @property
    def decision(self) -> Literal["allow", "deny", "step_up"]: ...
    @property
    def reason(
        self,
    ) -> Literal[
        "granted",
        "requirements_missing",
        "invalid_request",
        "forbidden",
        "expired",
        "not_yet_active",
        "no_matching_rule",
    ]: ...
    @property
    def rule(self) -> Optional[str]:
        """The id of the deciding rule."""
    @property
    def task(self) -> Optional[str]:
        """The task of the deciding rule."""
    @property
    def expires_at(self) -> Optional[datetime.datetime]:
        """When the grant lapses (timezone-aware, UTC)."""
    @property
    def needs(self) -> List[str]:
        """For ``step_up``: the labels of the requirements still missing."""
    @property
    def obligations(self) -> List[Dict[str, str]]:
        """For ``allow``: ``[{"kind": "notify" | "audit", "target": ...}]``."""
    @property
    def error(self) -> Optional[str]:
        """For invalid requests and failed guards: what went wrong."""
    @property
    def explanation(self) -> Optional[List[Dict[str, Any]]]:
        """With ``explain=True``: each candidate rule's trace (``rule``,
        ``kind``, ``outcome``, ``span``, ``file``), as
        ``jitp eval --explain --format json`` gives it; ``None`` when not
        explained, or for an ``invalid_request`` (no rule was considered)."""
    def to_dict(self) -> Dict[str, Any]:
        """The JSON object ``jitp eval`` prints (with ``explanation`` when
        explained, as ``jitp eval --explain --format json``)."""
    def to_json(self) -> str:
        """The text ``jitp eval`` prints (pretty, keys sorted; no final newline)."""

class Bundle:
    """A loaded, verified bundle. Immutable and thread-safe: decide from
    any number of threads at once (the GIL is released while deciding)."""

    @staticmethod
    def from_file(path: StrPath) -> "Bundle":
        """Loads and verifies a ``.jitb`` file. Raises :class:`BundleError`."""
    @staticmethod
    def from_bytes(data: bytes) -> "Bundle":
        """Loads and verifies a bundle from bytes. Raises :class:`BundleError`."""
    @property
    def package(self) -> str:
        """The package the bundle was compiled from."""
    @property
    def rule_count(self) -> int: ...
    def decide(self, request: Request, *, explain: bool = False) -> Decision:
        """Decides one request: a JSON string, or a dict of JSON values
        (``decimal.Decimal`` allowed, read exactly by ``Decimal`` fields).
        Raises :class:`RequestError` for requests that are not JSON; decides
        schema errors as ``invalid_request``."""
    def decide_many(self, requests: Iterable[Request], *, explain: bool = False) -> List[Decision]:
        """Decides each request in order, releasing the GIL once."""

def compile(paths: Union[StrPath, Sequence[StrPath]], *, package: Optional[str] = None) -> Bundle:
    """Compiles ``.jitp`` files or directories into a bundle (for tests and
    notebooks; ship compiled bundles in production). Raises
    :class:`CompileError` with the located diagnostics."""
