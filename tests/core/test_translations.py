"""The CI checks of docs/languages.md: no template text is left unmarked, every language's .po
file translates every message of the code and templates (none empty, none fuzzy), and the
compiled catalogs say what the .po files say."""

from __future__ import annotations

import gettext
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command

BASE = Path(settings.BASE_DIR)
TEMPLATES = BASE / "templates"
# Overrides that only extend a third party's template and change no words.
SKIPPED = {"drf_spectacular"}
# What `makemessages` reads besides the templates; the same options as in docs/languages.md.
MAKEMESSAGES_IGNORE = [
    ".venv",
    "var",
    "node_modules",
    "tests",
    "test-artifacts",
    "marketplace/bench/*",
]
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
# SI units read the same in every language.
UNITS = {"m", "ms", "km", "kg", "MB"}


def _blank(match: re.Match[str]) -> str:
    """Remove a match, keeping its line breaks so line numbers stay right."""
    return "\n" * match.group(0).count("\n")


def unmarked_text(source: str) -> list[tuple[int, str]]:
    """(line, text) of every visible word in a template outside {% translate %} and
    {% blocktranslate %}: element text, and the alt, title, placeholder and aria-label
    attributes and the value of buttons."""
    dotall = re.DOTALL
    text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", _blank, source, flags=dotall)
    text = re.sub(r"{#.*?#}", _blank, text, flags=dotall)
    text = re.sub(
        r"{%\s*blocktrans(late)?\b.*?%}.*?{%\s*endblocktrans(late)?\s*%}",
        _blank,
        text,
        flags=dotall,
    )
    text = re.sub(r"<(script|style)\b.*?</\1>", _blank, text, flags=dotall | re.IGNORECASE)
    # Template tags and variables out (they may sit inside an attribute), keeping line breaks.
    text = re.sub(r"{%.*?%}|{{.*?}}", lambda m: " " + _blank(m), text, flags=dotall)
    found: list[tuple[int, str]] = []

    def words(fragment: str) -> str:
        fragment = re.sub(r"&[#\w]+;", " ", fragment)
        left = [word for word in fragment.split() if word.strip(".,:;()") not in UNITS]
        return " ".join(left) if re.search(r"[A-Za-z]", " ".join(left)) else ""

    attribute = r"""\b(alt|title|placeholder|aria-label)\s*=\s*"([^"]*)\""""
    for match in re.finditer(attribute, text):
        if seen := words(match.group(2)):
            found.append((text.count("\n", 0, match.start()) + 1, f'{match.group(1)}="{seen}"'))
    button = r"""<input\b[^>]*\btype="(?:submit|button)"[^>]*\bvalue="([^"]*)\""""
    for match in re.finditer(button, text):
        if seen := words(match.group(1)):
            found.append((text.count("\n", 0, match.start()) + 1, f'value="{seen}"'))
    body = re.sub(r"<[^>]*>", lambda m: " " + _blank(m), text, flags=dotall)
    for number, line in enumerate(body.split("\n"), start=1):
        if seen := words(line):
            found.append((number, seen))
    return found


def template_files() -> list[Path]:
    return sorted(
        path
        for path in [*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.txt")]
        if path.relative_to(TEMPLATES).parts[0] not in SKIPPED
    )


def test_the_checker_finds_unmarked_words_and_passes_marked_ones():
    source = """{% load i18n %}<h1>{% translate "Hello" %}</h1>
    <p title="{% translate 'Tip' %}">{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}</p>
    {% comment %}Not shown{% endcomment %}<script>var a = "text";</script>
    <p>Left out &mdash; {{ value }}</p>
    <img alt="A photo"><input type="submit" value="Send"><input type="hidden" value="code">"""
    assert unmarked_text(source) == [
        (5, 'alt="A photo"'),
        (5, 'value="Send"'),
        (4, "Left out"),
    ]


def test_no_template_text_is_left_unmarked():
    left = [
        f"{path.relative_to(BASE)}:{line}: {text}"
        for path in template_files()
        for line, text in unmarked_text(path.read_text(encoding="utf-8"))
    ]
    assert not left, "Text outside {% translate %} / {% blocktranslate %}:\n" + "\n".join(left)


def _catalog(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sources makemessages reads and the .po files, copied: makemessages writes into the
    locale directory beside the files it reads, and must not touch the real one."""
    copy = tmp_path_factory.mktemp("project")
    skip = shutil.ignore_patterns("*.mo", "__pycache__", "*.pyc")
    for name in ("marketplace", "templates", "locale"):
        shutil.copytree(BASE / name, copy / name, ignore=skip)
    return copy


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language, project_copy, settings, monkeypatch):
    # given: the messages of today's code and templates, merged into a copy of the .po file
    monkeypatch.chdir(project_copy)
    settings.LOCALE_PATHS = [project_copy / "locale"]
    call_command(
        "makemessages",
        locale=[language],
        ignore_patterns=MAKEMESSAGES_IGNORE,
        add_location="file",
        verbosity=0,
    )
    fresh = _catalog(project_copy / "locale" / language / "LC_MESSAGES" / "django.po")
    committed = _catalog(BASE / "locale" / language / "LC_MESSAGES" / "django.po")

    # then: nothing new without a translation, nothing fuzzy, nothing stale left in the file
    def ids(catalog) -> set[tuple[str | None, object]]:  # type: ignore[no-untyped-def]
        return {(m.context, m.id) for m in catalog if m.id}

    untranslated = [
        m.id
        for m in fresh
        if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ]
    assert not untranslated, f"{language}: run makemessages and translate: {untranslated}"
    assert ids(fresh) == ids(committed), (
        f"{language}: locale/{language}/LC_MESSAGES/django.po is not up to date; run "
        "makemessages (docs/languages.md)"
    )
    assert not any(m.fuzzy for m in committed if m.id)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogs_are_current(language):
    po = BASE / "locale" / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: scripts/bootstrap.sh messages"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    wrong = []
    for message in _catalog(po):
        if not message.id:
            continue
        prefix = f"{message.context}\x04" if message.context else ""
        if isinstance(message.id, tuple):
            expected = {(prefix + message.id[0], n): text for n, text in enumerate(message.string)}
        else:
            expected = {prefix + message.id: message.string}
        if any(compiled.get(key) != text for key, text in expected.items()):
            wrong.append(message.id)
    assert not wrong, f"{mo} is stale (scripts/bootstrap.sh messages): {wrong[:5]}"
