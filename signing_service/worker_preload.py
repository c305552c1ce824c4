"""What every document worker needs, loaded once in the sandbox's fork server before it forks them.

Imported by the fork server only (:data:`signing_service.sandbox._PRELOAD`), never by the service
process: the verification and signing code, and the stamp's font prepared for Vietnamese
(:func:`signing_service.stamp_font.warm`: prepared, a few seconds the first time, and parsed), so that every worker starts with
them in its memory instead of paying for them on its first document.
"""

from __future__ import annotations

import signing_service.preparation
import signing_service.verification
from signing_service.appearance import DEFAULT_FONT
from signing_service.stamp_font import warm

warm(DEFAULT_FONT)
del signing_service.preparation
