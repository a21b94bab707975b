"""The languages Accord speaks: English (the packs' own), French and Chinese.

Which languages there are, which of them a pack is translated into, their names, the
locale each one's numbers and dates are written for, and the language an HTTP language tag
or a locale names. The API, the dashboard, the CLI and the packs' catalogues all ask here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

Language = Literal["en", "fr", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "zh")
# the language the packs and the code are written in: every catalogue's message ids
SOURCE: Language = "en"
# the languages a pack is translated into (English is the packs' own)
TRANSLATED: tuple[Language, ...] = ("fr", "zh")
LANGUAGE_NAMES: Mapping[Language, str] = {"en": "English", "fr": "French", "zh": "Chinese"}
# The locale (Babel's name) each language's numbers and dates are written for: Canada's
# English and French, and the Simplified Chinese of the People's Republic.
BABEL_LOCALES: Mapping[Language, str] = {"en": "en_CA", "fr": "fr_CA", "zh": "zh_Hans_CN"}


def language_named(tag: str) -> Language | None:
    """The language a tag names by its primary subtag: an HTTP language tag (fr-CA,
    zh-Hans-CN) or a locale (fr_CA.UTF-8, zh_CN@pinyin); None for one Accord does not have."""
    primary = re.split(r"[-_.@]", tag.strip(), maxsplit=1)[0].lower()
    return next((language for language in LANGUAGES if language == primary), None)
