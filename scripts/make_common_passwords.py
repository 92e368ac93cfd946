"""Regenerate ``src/topsmile/auth/common_passwords.txt`` from a ranked password list.

Source: the "passwords" frequency list of zxcvbn-python 4.5.0
(https://github.com/dwolfhub/zxcvbn-python, MIT licence, Copyright (c) 2016 Daniel Wolf),
itself taken from Dropbox's zxcvbn (https://github.com/dropbox/zxcvbn, MIT licence,
Copyright (c) 2012-2015 Dan Wheeler and Dropbox, Inc.), which derived it from Mark Burnett's
10-million-password corpus. Both licence notices are reproduced in
src/topsmile/auth/COMMON_PASSWORDS_SOURCE.md. The list holds 30,000 passwords ranked from
most to least common.

zxcvbn is NOT a dependency of TopSmile. To regenerate, install it into a throwaway venv and
point this script at its ``frequency_lists.py``:

    python3 -m venv /tmp/zx && /tmp/zx/bin/pip install zxcvbn==4.5.0
    python3 scripts/make_common_passwords.py \
        /tmp/zx/lib/python3.11/site-packages/zxcvbn/frequency_lists.py

The module is parsed with ``ast``, never imported or executed. A plain text file with one
password per line, most common first, is accepted too. Output: lower-cased, stripped,
deduplicated (first occurrence keeps its rank), UTF-8, one password per line.

Stdlib only.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "src" / "topsmile" / "auth" / "common_passwords.txt"
)
LIST_NAME = "passwords"
MINIMUM_ENTRIES = 10_000


def _literal_words(node: ast.expr) -> list[str]:
    """Words from ``"a,b,c".split(",")``, a string literal, or a list/tuple of strings."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "split"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and not node.keywords
    ):
        return node.func.value.value.split(node.args[0].value)
    value = ast.literal_eval(node)
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(f"unsupported literal for the {LIST_NAME!r} list")


def words_from_module(source: str) -> list[str]:
    """The ranked ``passwords`` list of a zxcvbn ``frequency_lists.py`` (not executed)."""
    tree = ast.parse(source)
    for statement in tree.body:
        if not isinstance(statement, ast.Assign) or not isinstance(statement.value, ast.Dict):
            continue
        for key, value in zip(statement.value.keys, statement.value.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == LIST_NAME:
                return _literal_words(value)
    raise ValueError(f"no {LIST_NAME!r} entry found in a module-level dict literal")


def normalise(words: Iterable[str]) -> list[str]:
    """Lower-case, strip, drop empties and later duplicates; keep rank order."""
    seen: set[str] = set()
    result: list[str] = []
    for word in words:
        cleaned = word.strip().lower()
        if cleaned and cleaned not in seen and "\n" not in cleaned and "\r" not in cleaned:
            seen.add(cleaned)
            result.append(cleaned)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "source", type=Path, help="zxcvbn frequency_lists.py, or a text file, one per line"
    )
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    text = args.source.read_text(encoding="utf-8")
    raw = words_from_module(text) if args.source.suffix == ".py" else text.splitlines()
    words = normalise(raw)
    if len(words) < MINIMUM_ENTRIES:
        print(
            f"only {len(words)} passwords in {args.source}; need at least {MINIMUM_ENTRIES}",
            file=sys.stderr,
        )
        return 1
    args.output.write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
    print(f"wrote {len(words)} passwords to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
