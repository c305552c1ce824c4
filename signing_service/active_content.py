"""Active content in a PDF: what runs, launches or carries a program rather than shows a page.

A sealed document with JavaScript in its ``/OpenAction`` carries the department's seal over code that
can change what the reader sees, submit the form elsewhere or start a program. Signing refuses such a
document unless the document type's policy allows it; verification names what it found. The search
walks every object reachable from the document catalogue (pages, annotations, form fields, name trees,
actions), reading dictionaries only; it skips what a page merely shows (content streams, fonts, images)
and validation data, where nothing is ever run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyhanko.pdf_utils import generic

from signing_service.documents import entry

#: Reachable objects read at most; the sandbox's object limit bounds documents well below it.
_MAX_OBJECTS = 500_000
_EXECUTABLE_SUFFIXES = (
    ".exe", ".com", ".bat", ".cmd", ".scr", ".pif", ".msi", ".dll", ".js", ".jse", ".vbs", ".vbe",
    ".wsf", ".ps1", ".sh", ".jar", ".apk", ".app", ".hta", ".lnk", ".reg", ".py",
)  # fmt: skip


class ActiveKind(StrEnum):
    JAVASCRIPT = "javascript"
    LAUNCH = "launch"
    EXECUTABLE_ATTACHMENT = "executable-attachment"
    ATTACHMENT = "attachment"
    SUBMIT_FORM = "submit-form"
    IMPORT_DATA = "import-data"
    RICH_MEDIA = "rich-media"
    XFA = "xfa"

    @property
    def runs_code(self) -> bool:
        """Kinds that execute, launch or carry a program (refused by default when signing)."""
        return self is not ActiveKind.ATTACHMENT


@dataclass(frozen=True)
class ActiveContent:
    kind: ActiveKind
    #: The object it was found in (``0`` for a direct object of the catalogue).
    object_number: int


_ACTIONS = {
    "/JavaScript": ActiveKind.JAVASCRIPT,
    "/Launch": ActiveKind.LAUNCH,
    "/SubmitForm": ActiveKind.SUBMIT_FORM,
    "/ImportData": ActiveKind.IMPORT_DATA,
    "/RichMediaExecute": ActiveKind.RICH_MEDIA,
    "/Rendition": ActiveKind.RICH_MEDIA,
}


def _file_name(spec: generic.DictionaryObject) -> str:
    for key in ("/UF", "/F", "/Unix", "/DOS", "/Mac"):
        value = entry(spec, key)
        if isinstance(value, (str, bytes)):
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return ""


def _is_executable(spec: generic.DictionaryObject) -> bool:
    if _file_name(spec).lower().endswith(_EXECUTABLE_SUFFIXES):
        return True
    embedded = entry(spec, "/EF")
    if isinstance(embedded, generic.DictionaryObject):
        for key in ("/F", "/UF"):
            stream = entry(embedded, key)
            if isinstance(stream, generic.StreamObject):
                head = (stream.encoded_data or b"")[:4]
                # Unencoded program headers (PE, ELF, Mach-O, shebang) are enough to tell.
                if head[:2] in (b"MZ", b"#!") or head in (b"\x7fELF", b"\xcf\xfa\xed\xfe"):
                    return True
    return False


def _inspect(obj: generic.DictionaryObject) -> list[ActiveKind]:
    found: list[ActiveKind] = []
    action = entry(obj, "/S")
    if isinstance(action, generic.NameObject) and action in _ACTIONS:
        found.append(_ACTIONS[action])
    if "/JS" in obj:
        found.append(ActiveKind.JAVASCRIPT)
    if entry(obj, "/Subtype") in ("/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"):
        found.append(ActiveKind.RICH_MEDIA)
    if "/XFA" in obj:
        found.append(ActiveKind.XFA)
    if entry(obj, "/Type") in ("/Filespec", "/F") or "/EF" in obj:
        found.append(
            ActiveKind.EXECUTABLE_ATTACHMENT if _is_executable(obj) else ActiveKind.ATTACHMENT
        )
    return found


#: Entries that hold what a page shows (content, fonts, images, colour spaces), the structure tree,
#: metadata and validation data: nothing there is ever run, so the walk does not descend into them
#: (on a ten-page transcript they are most of the objects).
_INERT_KEYS = frozenset(
    {
        "/Contents", "/Resources", "/Font", "/XObject", "/ColorSpace", "/Pattern", "/Shading",
        "/ExtGState", "/Properties", "/Metadata", "/StructTreeRoot", "/Thumb", "/DSS",
        "/ByteRange", "/Widths", "/FontDescriptor", "/ToUnicode", "/Encoding",
    }
)  # fmt: skip


def find_active_content(root: generic.DictionaryObject) -> list[ActiveContent]:
    """Active content reachable from the catalogue ``root`` (each kind once per object)."""
    found: list[ActiveContent] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    visited = 0
    while stack:
        value, number = stack.pop()
        if isinstance(value, generic.IndirectObject):
            key = (value.idnum, value.generation)
            if key in seen:
                continue
            seen.add(key)
            visited += 1
            if visited > _MAX_OBJECTS:
                break
            number = value.idnum
            value = value.get_object()
        if isinstance(value, generic.DictionaryObject):
            for kind in _inspect(value):
                if ActiveContent(kind, number) not in found:
                    found.append(ActiveContent(kind, number))
            for key in value:
                if key in ("/Parent", "/P") or key in _INERT_KEYS:
                    continue  # back-pointers lead to objects reached anyway
                stack.append((value.raw_get(key), number))
        elif isinstance(value, generic.ArrayObject):
            stack.extend((item, number) for item in value)
    return found
