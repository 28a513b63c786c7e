"""Airflow assets (datasets on Airflow 2) of import jobs: the ``<scheme>://<scope>/<kind>`` rules every vendor shares.

Each vendor registers one URI scheme (``metrika://<counter id>/<kind>``, ``commercelayer://<organization>/<type>``,
``fleetio://<account>/<import type>``) in ``get_provider_info()`` with a sanitizer and an OpenLineage converter,
as the community providers do for their URIs
(https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/assets.html). A vendor describes
its scheme once as an :class:`AssetScheme`; the URI checks, the asset, the OpenLineage dataset and the marking
of a task's declared outlets with what the vendor made of its jobs (:func:`annotate_outlets`) are the same code
for all of them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

log = logging.getLogger(__name__)

Job = Mapping[str, Any]


def sanitized(uri: str | None, scheme: str, sanitize: Callable[[SplitResult], SplitResult]) -> SplitResult | None:
    """``uri`` checked by its scheme's ``sanitize``; None for another scheme or an invalid URI (every vendor's)."""
    if not uri or not uri.startswith(f"{scheme}://"):
        return None
    try:
        return sanitize(urlsplit(uri))
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class AssetScheme:
    """One vendor's ``<scheme>://<scope>/<kind>`` URIs: what its two parts may be and what an event calls them.

    ``scope`` normalizes the URI's host (lower-cased first) and returns None when it is not a valid scope;
    ``kind`` says whether the path (slashes stripped) names a valid kind. The errors complete the sentence
    "``<scheme>://`` asset URI ..." so Airflow shows the user what the scheme wants.
    """

    name: str
    scope: Callable[[str], str | None]
    kind: Callable[[str], bool]
    scope_error: str
    kind_error: str
    #: the event extra's names of the two parts (``counter_id``/``kind``, ``account``/``import_type``, ...)
    labels: tuple[str, str]
    #: how a parsed scope is typed for the vendor's code (``int`` for a Metrika counter id)
    scope_type: Callable[[str], Any] = str

    def uri(self, scope: Any, kind: str) -> str:
        """``<scheme>://<scope>/<kind>``, checked and normalized."""
        return self.sanitize(urlsplit(f"{self.name}://{scope}/{kind}")).geturl()

    def asset(self, scope: Any, kind: str, extra: dict[str, Any] | None = None) -> Any:
        """The asset (``Dataset`` on Airflow 2) of one scope and kind."""
        from airflow_provider_metrika.version_compat import Asset

        return Asset(uri=self.uri(scope, kind), extra=extra or {})

    def sanitize(self, uri: SplitResult) -> SplitResult:
        """Airflow's URI check for the scheme (registered as its ``handler``): a valid scope and one valid kind."""
        scope = self.scope(uri.netloc.lower())
        kind = uri.path.strip("/")
        if scope is None:
            raise ValueError(f"{self.name}:// asset URI {self.scope_error}")
        if not self.kind(kind):
            raise ValueError(f"{self.name}:// asset URI {self.kind_error}")
        if uri.query or uri.fragment:
            raise ValueError(f"{self.name}:// asset URI takes no query or fragment")
        return uri._replace(netloc=scope, path=f"/{kind}")

    def parse(self, uri: str | None) -> tuple[Any, str] | None:
        """``(scope, kind)`` of a valid URI of this scheme; None for any other URI."""
        parts = sanitized(uri, self.name, self.sanitize)
        return None if parts is None else (self.scope_type(parts.netloc), parts.path.strip("/"))

    def namespace(self, scope: Any) -> str:
        """The OpenLineage namespace of a scope: ``<scheme>://<scope>``."""
        return f"{self.name}://{scope}"

    def to_openlineage(self, asset: Any, lineage_context: Any = None) -> Any:
        """The asset as an OpenLineage dataset (registered as the scheme's ``to_openlineage_converter``)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset

        parsed = self.parse(getattr(asset, "uri", None))
        if parsed is None:
            raise ValueError(f"not a {self.name}:// asset: {getattr(asset, 'uri', None)!r}")
        return Dataset(namespace=self.namespace(parsed[0]), name=parsed[1])


def summed_counters(counters: Iterable[Any], names: Mapping[str, str]) -> dict[str, int]:
    """Each counter in ``names`` summed over the jobs' counter mappings, under its event name.

    Only whole numbers count: a counter a hostile server filled with text, ``true`` or null is left out.
    """
    sums: dict[str, int] = {}
    mappings = [c for c in counters if isinstance(c, Mapping)]
    for counter, name in names.items():
        values = [c[counter] for c in mappings if isinstance(c.get(counter), int) and not isinstance(c[counter], bool)]
        if values:
            sums[name] = sum(values)
    return sums


def scope_and_kind(job: Job) -> tuple[Any, Any]:
    """Which asset a job summary belongs to: its ``scope`` and ``kind``."""
    return job.get("scope"), job.get("kind")


def annotate_outlets(
    task: Any,
    context: Any,
    result: Any,
    *,
    scheme: AssetScheme,
    jobs: Sequence[Job],
    final: bool,
    describe: Callable[[list[Job]], dict[str, Any]],
    vendor: str,
    not_final: str,
    nothing: str,
    key: Callable[[Job], tuple[Any, Any]] = scope_and_kind,
) -> Any:
    """Put ``describe(the jobs of an outlet)`` on each of the task's declared outlets of ``scheme``; ``result`` back.

    A job belongs to the outlet whose ``(scope, kind)`` its ``key`` gives. Only a ``final`` result counts:
    an outlet of a task that did not wait for its jobs (``not_final``) or that did nothing for it
    (``nothing``, formatted with ``scope`` and ``kind``) gets its event from Airflow without the vendor's
    counters, and a warning here.
    """
    outlets = [o for o in (getattr(task, "outlets", None) or []) if scheme.parse(getattr(o, "uri", None))]
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not outlets or events is None:
        return result
    for outlet in outlets:
        scope, kind = scheme.parse(outlet.uri)  # type: ignore[misc]
        mine = [job for job in jobs if key(job) == (scope, kind)]
        if not final or not mine:
            reason = not_final if mine else nothing.format(scope=scope, kind=kind)
            log.warning("Asset %s: %s; its event carries no %s counters", outlet.uri, reason, vendor)
            continue
        events[outlet].extra.update(describe(mine) | dict(zip(scheme.labels, (scope, kind), strict=True)))
    return result


def summaries_of(result: Any) -> list[Job]:
    """The job summaries of a :class:`~airflow_provider_metrika.jobs.record.JobsResult` (none for anything else)."""
    jobs = result.get("jobs") if isinstance(result, Mapping) else None
    return [job for job in jobs if isinstance(job, Mapping)] if isinstance(jobs, list) else []
