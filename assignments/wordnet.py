"""Read WordNet 3.0's noun definitions from Debian's ``wordnet-base``, offline.

Each line of ``data.noun`` is one synset: its offset, its lexicographer file
number (two decimal digits), ``n``, its words, its pointers, then ``|`` and the
gloss: the definition, often followed by quoted examples after ``;``. Debian's
package lacks the ``lexnames`` file that NLTK's reader needs, so the file
numbers are named here from WordNet's own table (lexnames(5WN)). WordNet 3.0
licence: its notice is kept in ``assignments/dl4nlp/LICENSES.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
INSTALL_LINE = "apt-get install -y wordnet-base"
# lexnames(5WN): the noun files are 03-28.
NOUN_LEXNAMES = {
    3: "Tops",
    4: "act",
    5: "animal",
    6: "artifact",
    7: "attribute",
    8: "body",
    9: "cognition",
    10: "communication",
    11: "event",
    12: "feeling",
    13: "food",
    14: "group",
    15: "location",
    16: "motive",
    17: "object",
    18: "person",
    19: "phenomenon",
    20: "plant",
    21: "possession",
    22: "process",
    23: "quantity",
    24: "relation",
    25: "shape",
    26: "state",
    27: "substance",
    28: "time",
}
# A data line starts with an 8-digit offset; the licence header lines with spaces.
DATA_LINE = re.compile(r"^(\d{8}) (\d{2}) n ")
# The definition ends where the first quoted example starts.
EXAMPLE = re.compile(r';\s*"')
MAX_LINE_CHARS = 20_000


class WordNetError(ValueError):
    """WordNet is missing or damaged; the message says how to install it."""


@dataclass(frozen=True)
class NounDefinitions:
    """Every noun synset's definition and the name of its category."""

    definitions: tuple[str, ...]
    categories: tuple[str, ...]


def wordnet_dir() -> Path:
    """Return where WordNet's data files are (DOJO_WORDNET_DIR overrides)."""
    return Path(os.environ.get("DOJO_WORDNET_DIR") or WORDNET_DIR)


def wordnet_available() -> bool:
    """Return whether ``data.noun`` is installed here."""
    return (wordnet_dir() / "data.noun").is_file()


def read_noun_definitions(folder: Path | None = None) -> NounDefinitions:
    """Parse ``data.noun``: one (definition, category) per synset, in file order."""
    path = (folder or wordnet_dir()) / "data.noun"
    if not path.is_file():
        raise WordNetError(
            f"WordNet is not installed: {path} is missing. Install it with "
            f"`{INSTALL_LINE}` (no network needed afterwards)."
        )
    definitions, categories = [], []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            match = DATA_LINE.match(line)
            if not match:
                continue
            if len(line) > MAX_LINE_CHARS or " | " not in line:
                raise WordNetError(f"{path} line {number} is damaged.")
            category = NOUN_LEXNAMES.get(int(match.group(2)))
            if category is None:
                raise WordNetError(
                    f"{path} line {number}: lexicographer file "
                    f"{match.group(2)} is not a noun file."
                )
            gloss = line.split(" | ", 1)[1]
            definition = EXAMPLE.split(gloss, maxsplit=1)[0].strip().rstrip(";")
            definitions.append(definition.strip())
            categories.append(category)
    if not definitions:
        raise WordNetError(f"{path} holds no noun definitions.")
    return NounDefinitions(tuple(definitions), tuple(categories))
