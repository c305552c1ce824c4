"""EU DSS 6.3, the European Commission's reference validator, as a second opinion in the tests.

The gateway verifies its own PAdES signatures with pyHanko; a test that only asks pyHanko whether
pyHanko's output is right can be wrong in the same way twice. This module builds a small Java
service (``devstack/dss_validator/``: our code over DSS from Maven Central) once with Maven into the
project's work cache, keyed by a hash of its sources, starts it as a managed process on loopback
and gives a typed client: :meth:`DssValidator.validate` sends any bytes and returns what DSS says
(:class:`DssReport`), keeping DSS's own message keys (``BBB_ICS_ISASCP_ANS``...) so that tests can
assert on them.

It is a test and development tool: nothing in the gateway's production paths imports it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass

from devstack.errors import InstallFailed, ServiceDidNotStart, StackError
from devstack.process import ManagedProcess, http_ready
from idp_config.jdk import find_jdk

VERSION = "6.3"  # eu.europa.ec.joinup.sd-dss, pinned in the pom
MINIMUM_JAVA = 17  # the pom's maven.compiler.release: Debian's own JDK is enough
SOURCES = Path(__file__).resolve().parent / "dss_validator"
_JAR = "dss-validator-1.jar"
_BUILT = ".edu-gateway-build"


def _sources() -> list[Path]:
    return sorted(
        p
        for p in SOURCES.rglob("*")
        if p.is_file() and (p.name == "pom.xml" or "src" in p.relative_to(SOURCES).parts)
    )


def fingerprint() -> str:
    """A hash of the validator's sources (pom and Java): a new one means a new build."""
    digest = hashlib.sha256(VERSION.encode())
    for source in _sources():
        digest.update(str(source.relative_to(SOURCES)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def install(cache: Path) -> Path:
    """The folder holding the built validator (its jar and ``lib/``), building it if needed.

    Maven runs once per version of the sources (``-B -q``: no prompts, no progress); what it
    downloads stays in the local Maven repository, so later builds and every start work offline.
    """
    key = fingerprint()
    home = cache / f"dss-validator-{key}"
    if (home / _BUILT).exists():
        return home
    if shutil.which("mvn") is None:
        raise InstallFailed("Maven (mvn) is not installed; the setup script installs it")
    java_home = find_jdk(MINIMUM_JAVA)
    build = cache / f"dss-validator-build-{key}"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(SOURCES, build)
    result = subprocess.run(
        ["mvn", "-B", "-q", "package"],
        capture_output=True,
        text=True,
        check=False,
        cwd=build,
        env={**os.environ, "JAVA_HOME": str(java_home)},
    )
    target = build / "target"
    if result.returncode != 0 or not (target / _JAR).exists():
        # Maven's quiet output is mostly its help footer: the compiler's errors come first.
        errors = [line for line in result.stdout.splitlines() if line.startswith("[ERROR]")]
        raise InstallFailed(
            f"the DSS validator did not build (Maven in {build}):\n"
            + "\n".join(errors[:20] or [result.stdout[-3000:], result.stderr[-2000:]])
        )
    staging = cache / f"dss-validator-{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.move(target / _JAR, staging / _JAR)
    shutil.move(target / "lib", staging / "lib")
    (staging / _BUILT).write_text(f"EU DSS {VERSION}\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    shutil.rmtree(build, ignore_errors=True)
    for old in cache.glob("dss-validator-*"):  # earlier builds of other sources
        if old != home and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return home


# -- the report ------------------------------------------------------------------------------

_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


@dataclass(config=_CONFIG)
class DssMessage:
    """One line of DSS's simple report: the constraint's key (stable) and its English text."""

    key: str
    text: str


@dataclass(config=_CONFIG)
class DssQualification:
    """The eIDAS qualification part (no EU trusted list here: expect "not qualified" notes)."""

    errors: tuple[DssMessage, ...] = ()
    warnings: tuple[DssMessage, ...] = ()
    infos: tuple[DssMessage, ...] = ()


@dataclass(config=_CONFIG)
class DssObjectModification:
    """One PDF object changed after a signed revision (``action``: CREATION, DELETION, MODIFICATION)."""

    action: str | None = None
    field_name: str | None = None
    type: str | None = None
    value: str | None = None


@dataclass(config=_CONFIG)
class DssPdfRevision:
    """DSS's PDF modification detection for the revision a signature or document timestamp covers.

    ``visual_difference_pages``: pages that render differently in the final document;
    ``page_difference_pages``: pages added or removed; ``annotations_overlap_pages``: annotations
    that overlap; the ``*_changes`` lists: object modifications by the category DSS sorts them in,
    ``undefined_changes`` being those it could not explain as a signature, form fill, annotation or
    extension change (the suspicious ones).
    """

    field_names: tuple[str, ...] = ()
    sub_filter: str | None = None
    byte_range: tuple[int, ...] = ()
    byte_range_valid: bool | None = None
    signature_dictionary_consistent: bool | None = None
    doc_mdp_permissions: str | None = None
    modifications_detected: bool = False
    annotations_overlap_pages: tuple[int, ...] = ()
    visual_difference_pages: tuple[int, ...] = ()
    page_difference_pages: tuple[int, ...] = ()
    object_modifications_detected: bool = False
    extension_changes: tuple[DssObjectModification, ...] = ()
    signature_or_form_fill_changes: tuple[DssObjectModification, ...] = ()
    annotation_changes: tuple[DssObjectModification, ...] = ()
    undefined_changes: tuple[DssObjectModification, ...] = ()
    modified_field_names: tuple[str, ...] = ()


@dataclass(config=_CONFIG)
class DssTimestamp:
    """A timestamp as DSS sees it: a signature timestamp, or a document timestamp (``/DocTimeStamp``,
    ``type`` ARCHIVE_TIMESTAMP over earlier signatures, DOCUMENT_TIMESTAMP when alone)."""

    id: str
    indication: str | None = None
    sub_indication: str | None = None
    type: str | None = None
    archive_timestamp_type: str | None = None
    field_name: str | None = None
    production_time: datetime | None = None
    produced_by: str | None = None
    intact: bool | None = None
    cryptographically_valid: bool | None = None
    message_imprint_intact: bool | None = None
    errors: tuple[DssMessage, ...] = ()
    warnings: tuple[DssMessage, ...] = ()
    infos: tuple[DssMessage, ...] = ()
    qualification: DssQualification = Field(default_factory=DssQualification)
    pdf: DssPdfRevision | None = None

    def message_keys(self) -> set[str]:
        return {m.key for m in (*self.errors, *self.warnings, *self.infos)}


@dataclass(config=_CONFIG)
class DssSignature:
    """A signature as DSS sees it. ``signature_format`` is the level DSS determined from what is in
    the file (``PAdES-BASELINE-B``, ``-T``, ``-LT``, ``-LTA``), not what the signer claimed."""

    id: str
    indication: str | None = None
    sub_indication: str | None = None
    signature_format: str | None = None
    field_name: str | None = None
    signing_time: datetime | None = None
    best_signature_time: datetime | None = None
    signed_by: str | None = None
    intact: bool | None = None
    cryptographically_valid: bool | None = None
    errors: tuple[DssMessage, ...] = ()
    warnings: tuple[DssMessage, ...] = ()
    infos: tuple[DssMessage, ...] = ()
    qualification: DssQualification = Field(default_factory=DssQualification)
    timestamps: tuple[DssTimestamp, ...] = ()
    pdf: DssPdfRevision | None = None

    def message_keys(self) -> set[str]:
        """The keys of this signature's errors, warnings and infos and those of its timestamps."""
        keys = {m.key for m in (*self.errors, *self.warnings, *self.infos)}
        for timestamp in self.timestamps:
            keys |= timestamp.message_keys()
        return keys


@dataclass(config=_CONFIG)
class DssXmlReports:
    """DSS's own XML reports, when asked for (``validate(..., with_xml=True)``), for digging."""

    simple_report_xml: str
    detailed_report_xml: str
    diagnostic_data_xml: str


@dataclass(config=_CONFIG)
class DssReport:
    """What DSS answered about one document."""

    validation_time: datetime
    signatures_count: int
    valid_signatures_count: int
    timestamps_count: int
    document_timestamps_count: int
    validation_policy: str | None = None
    signatures: tuple[DssSignature, ...] = ()
    timestamps: tuple[DssTimestamp, ...] = ()  # those not attached to a signature
    xml: DssXmlReports | None = None

    def tokens(self) -> Iterator[DssSignature | DssTimestamp]:
        """Every signature and timestamp of the report, each once."""
        for signature in self.signatures:
            yield signature
            yield from signature.timestamps
        yield from self.timestamps

    def message_keys(self) -> set[str]:
        """Every message key DSS wrote about this document (errors, warnings and infos)."""
        keys: set[str] = set()
        for token in self.tokens():
            keys |= token.message_keys()
        return keys


_REPORT = TypeAdapter(DssReport)


class DssValidatorError(StackError):
    code: ClassVar[str] = "dss-validator-error"
    message_vi: ClassVar[str] = "Bộ kiểm tra chữ ký EU DSS không trả lời được."
    message_en: ClassVar[str] = "The EU DSS validator could not answer."


class DssRefusedDocument(DssValidatorError):
    """DSS could not even read the bytes as a signed PDF (its exception says why)."""

    code: ClassVar[str] = "dss-refused-document"
    message_vi: ClassVar[str] = "EU DSS không đọc được tài liệu."
    message_en: ClassVar[str] = "EU DSS could not read the document."

    def __init__(self, exception: str, message: str) -> None:
        super().__init__(f"{exception}: {message}")
        self.exception = exception
        self.message = message


def parse_report(answer: Mapping[str, Any]) -> DssReport:
    """The typed form of the validator's JSON answer (also for answers kept from earlier runs)."""
    if "xml" not in answer and "simpleReportXml" in answer:
        answer = {
            **answer,
            "xml": {
                "simpleReportXml": answer["simpleReportXml"],
                "detailedReportXml": answer["detailedReportXml"],
                "diagnosticDataXml": answer["diagnosticDataXml"],
            },
        }
    return _REPORT.validate_python(answer)


class DssValidator:
    """A running DSS validator: a client, and the process behind it."""

    def __init__(self, process: ManagedProcess, url: str) -> None:
        self.process = process
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=httpx.Timeout(120.0, connect=5.0))

    def validate(self, document: bytes, *, with_xml: bool = False) -> DssReport:
        """DSS's verdict on ``document`` (any bytes: a signed PDF, or one an attack manipulated).

        Raises :class:`DssRefusedDocument` when DSS cannot read the bytes at all.
        """
        return parse_report(self.validate_json(document, with_xml=with_xml))

    def validate_json(self, document: bytes, *, with_xml: bool = False) -> dict[str, Any]:
        """The answer as DSS's JSON, for assertions on fields the dataclasses do not model."""
        response = self._http.post(
            "/validate",
            content=document,
            params={"xml": "true"} if with_xml else None,
            headers={"Content-Type": "application/pdf"},
        )
        if response.status_code == 422:
            refusal = response.json()
            raise DssRefusedDocument(str(refusal.get("exception")), str(refusal.get("message")))
        if response.status_code != 200:
            raise DssValidatorError(f"HTTP {response.status_code}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer

    def stop(self) -> None:
        self._http.close()
        self.process.stop()


def start_dss_validator(
    cache: Path,
    folder: Path,
    *,
    port: int,
    trust_anchors: Path,
    threads: int = 2,
    visual_comparison_pages: int | None = None,
    name: str = "dss-validator",
    timeout: float = 120.0,
) -> DssValidator:
    """Build if needed, then start the validator on ``127.0.0.1:port`` trusting the PEM
    certificates in ``trust_anchors``; logs and pid file go under ``folder`` (as ``name``).

    ``visual_comparison_pages``: DSS renders and compares the pages of documents of up to this
    many pages (DSS's default, 10, when None); 0 skips the visual comparison, which is most of
    DSS's time on a clean multi-page document (docs/benchmarks.md).
    """
    home = install(cache)
    java = find_jdk(MINIMUM_JAVA) / "bin" / "java"
    process = ManagedProcess(name, folder)
    extra = (
        []
        if visual_comparison_pages is None
        else ["--visual-comparison-pages", str(visual_comparison_pages)]
    )
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(java),
        "-Xms64m",
        "-Xmx768m",
        "-XX:+UseSerialGC",  # a small heap on a 2-core machine shared with the whole stack
        "-Djava.net.useSystemProxies=false",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        f"{home / _JAR}:{home / 'lib' / '*'}",
        "vn.edu.gateway.dss.DssValidatorServer",
        "--port",
        str(port),
        "--trust",
        str(trust_anchors),
        "--threads",
        str(threads),
        *extra,
    ]
    try:
        process.start(argv, cwd=folder, ready=http_ready(f"{url}/health"), timeout=timeout)
    except ServiceDidNotStart:
        process.stop()  # a JVM that never got ready is not left behind
        raise
    return DssValidator(process, url)
