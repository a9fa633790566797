"""``--store`` addresses: where an index keeps its vectors.

* ``faiss``: FAISS files in the index folder (the default, embedded);
* ``milvus:///abs/path/vectors.db``: Milvus Lite, a local file, no server;
* ``milvus://host:19530[/name]`` (``milvus+https://host`` for TLS): a Milvus server or
  cluster, holding the whole catalog, shared by every replica that opens the same name
  (:mod:`lookalike.index.shared`; ``name`` defaults to ``lookalike``).

A Milvus address may carry query options: ``collection`` (Milvus Lite: default
``lookalike_<index uid>``; a server: the shared catalog's name, as the path also gives it),
``index_type`` (default ``AUTOINDEX``), its build and search parameters (``M``,
``efConstruction``, ``nlist``; ``ef``, ``nprobe``), ``consistency`` (default ``Strong``) and
``shards``. Credentials never go in the address, which the manifest records: they come from
the ``LOOKALIKE_MILVUS_TOKEN`` environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError

__all__ = ["MILVUS_OPTIONS", "StoreAddress", "parse_store"]

MILVUS_OPTIONS = frozenset(
    {"collection", "index_type", "M", "efConstruction", "nlist", "ef", "nprobe", "consistency", "shards"}
)


@dataclass(frozen=True)
class StoreAddress:
    #: ``faiss`` or ``milvus``.
    kind: str
    #: As the user wrote it (recorded in the manifest).
    text: str
    #: For Milvus: the file of Milvus Lite or the server's ``http(s)://host:port``.
    endpoint: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_lite(self) -> bool:
        return self.kind == "milvus" and not self.endpoint.startswith(("http://", "https://"))

    @property
    def is_shared(self) -> bool:
        """A server: the whole catalog lives there, shared by replicas."""
        return self.kind == "milvus" and not self.is_lite


def parse_store(text: str) -> StoreAddress:
    """Read a ``--store`` value; :class:`ConfigError` names what is wrong with a bad one."""
    if text == "faiss":
        return StoreAddress("faiss", text)
    parts = urlsplit(text)
    if parts.scheme not in ("milvus", "milvus+https"):
        raise ConfigError(
            f"unknown store {text!r}: use 'faiss', 'milvus:///path/to/file.db' or 'milvus://host:19530'"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
    unknown = sorted(set(options) - MILVUS_OPTIONS)
    if unknown:
        raise ConfigError(
            f"store {text!r}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(MILVUS_OPTIONS))}"
        )
    if parts.netloc:
        scheme = "https" if parts.scheme == "milvus+https" else "http"
        port = f":{parts.port}" if parts.port else ""
        name = parts.path.strip("/")
        if name:
            if not name.replace("_", "a").isalnum() or "collection" in options:
                raise ConfigError(
                    f"store {text!r}: the path names the catalog (letters, digits, _), "
                    "and only once (path or ?collection=)"
                )
            options["collection"] = name
        return StoreAddress("milvus", text, f"{scheme}://{parts.hostname}{port}", options)
    if not parts.path.startswith("/") or not parts.path.endswith(".db"):
        raise ConfigError(
            f"store {text!r}: a Milvus Lite file is an absolute path ending in .db (milvus:///x/y.db)"
        )
    return StoreAddress("milvus", text, parts.path, options)
