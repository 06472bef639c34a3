"""Text helpers: search keys that ignore case and diacritics, and unique slugs."""

import unicodedata

from django.utils.text import slugify

# Letters that Unicode does not decompose into a base letter plus a mark, but
# that readers type as the plain Latin letter (Azerbaijani, Turkish, Nordic, ...).
_FOLD_EXTRA = {
    "ə": "e",
    "ı": "i",
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "æ": "ae",
    "œ": "oe",
    "ß": "ss",
    "ʼ": "",
    "’": "",
    "'": "",
}


class _FoldTable(dict):
    """``str.translate`` table: the letters above replaced, combining marks dropped, every other
    character kept; filled as characters are met (there are too many to list up front)."""

    def __missing__(self, codepoint: int):
        self[codepoint] = value = None if unicodedata.combining(chr(codepoint)) else codepoint
        return value


_FOLD = _FoldTable(str.maketrans(_FOLD_EXTRA))


def fold(text: str) -> str:
    """A search key: case-folded, without diacritics, single-spaced.

    'Kəlbəcər' -> 'kelbecer', 'Laçın' -> 'lacin'; other scripts keep their
    letters ('Кельбаджар' -> 'кельбаджар').
    """
    if text.isascii():  # the common case, and millions of them on a large import: nothing to decompose
        return " ".join(text.lower().replace("'", "").split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(unicodedata.normalize("NFC", decomposed.translate(_FOLD)).split())


def unique_slug(model, text: str, *, max_length: int = 120, instance_pk=None) -> str:
    """A slug for ``text`` not yet used by another row of ``model``."""
    base = slugify(fold(text))[:max_length].strip("-") or model._meta.model_name
    slug, n = base, 2
    qs = model._default_manager.all()
    if instance_pk is not None:
        qs = qs.exclude(pk=instance_pk)
    while qs.filter(slug=slug).exists():
        suffix = f"-{n}"
        slug = f"{base[: max_length - len(suffix)]}{suffix}"
        n += 1
    return slug
