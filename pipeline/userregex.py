"""The desk's regexes (sources.yaml `ignore` and `new_items`) on RE2, whose matching time is
linear in the text whatever the pattern: `(a+)+$` on a hostile page cannot hang a check.
claimwatch's own patterns stay on Python's `re`.

RE2 reads Python's syntax except for what needs backtracking (backreferences, lookaround,
possessive quantifiers, atomic groups), which `compile` refuses with an explanation, and a few
spellings translated here so a pattern keeps the meaning it had under `re`: `\\d`, `\\w` and `\\s`
match in every script (RE2's are ASCII), `{,n}` is a repeat, `\\Z`, `\\uXXXX`, `\\N{NAME}` are
spelled RE2's way. `\\b` remains RE2's: a boundary between ASCII letters and digits and the rest.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print each bad pattern on stderr besides the error

# Python's \s (str.isspace), \d (Unicode Nd) and \w (letters, numbers, _), as RE2 class bodies
_SPACE = (r"\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
          r"\x{205f}\x{3000}")
_WORD = r"\p{L}\p{N}_"
_IN_CLASS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE, "b": r"\x08"}
_OUTSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": f"[{_WORD}]", "W": f"[^{_WORD}]",
            "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]", "Z": r"\z"}
_CODEPOINT = {"u": re.compile(r"[0-9A-Fa-f]{4}"), "U": re.compile(r"[0-9A-Fa-f]{8}")}
_OPEN_REPEAT = re.compile(r"\{,(\d+)\}")
_SURROGATE = re.compile("[\ud800-\udfff]")

_ENGINE = "which claimwatch's linear-time regex engine does not support"
_AROUND = ("match the text around it as part of the pattern instead (`ignore` removes the whole "
           "match; `new_items` only asks whether there is one)")
_NO_BACKTRACKING = ("use the plain quantifier or group: the engine never backtracks, so it is "
                    "not needed to keep matching fast")
# what RE2 names in its complaint → what the desk wrote, and what to do instead
_UNSUPPORTED = {
    "(?=": ("a lookahead ((?=…))", _AROUND),
    "(?!": ("a negative lookahead ((?!…))", _AROUND),
    "(?<=": ("a lookbehind ((?<=…))", _AROUND),
    "(?<!": ("a negative lookbehind ((?<!…))", _AROUND),
    "(?P": ("a named backreference ((?P=name))",
            "spell the repeated text out, or list the alternatives with |"),
    "(?>": ("an atomic group ((?>…))", _NO_BACKTRACKING),
    "(?(": ("a conditional group ((?(1)…|…))", "write the alternatives out with |"),
    "(?#": ("a comment ((?#…))", "remove the comment"),
}
_FLAGS = {
    "x": ("the verbose flag (?x)", "write the pattern without spaces and comments"),
    "a": ("the ASCII flag (?a)", "write the classes out, e.g. [A-Za-z0-9_] for \\w"),
    "u": ("the unicode flag (?u)", "remove it: \\d, \\w and \\s match in every script already"),
    "L": ("the locale flag (?L)", "remove it"),
}


@lru_cache(maxsize=1024)
def compile(pattern: str) -> re2._Regexp:
    """`pattern` compiled for RE2 (cached: each pattern is compiled once per process). Raises
    ValueError with a sentence for sources.yaml's error list when RE2 cannot take it."""
    try:
        return re2.compile(_translated(pattern), _OPTIONS)
    except re2.error as exc:
        raise ValueError(_explain(pattern, exc)) from None
    except UnicodeEncodeError:
        raise ValueError(f"regex {_shown(pattern)} is not valid text (a lone surrogate)") from None


def search(pattern: str, text: str) -> bool:
    """Does `pattern` match anywhere in `text`?"""
    try:
        return compile(pattern).search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate (a page declaring a codec that makes them)
        return compile(pattern).search(_encodable(text)) is not None


def remove(pattern: str, text: str) -> str:
    """`text` without the matches of `pattern`."""
    try:
        return compile(pattern).sub(_nothing, text)
    except UnicodeEncodeError:
        return compile(pattern).sub(_nothing, _encodable(text))


def _nothing(_match: object) -> str:  # a function: RE2's sub would parse "" as a template
    return ""


def _encodable(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _translated(pattern: str) -> str:
    """Python's spellings RE2 reads differently (module docstring) in RE2's."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            escape, i = pattern[i + 1], i + 2
            if escape == "Q":  # RE2's literal text up to \E: nothing in it is an escape
                end = pattern.find("\\E", i)
                end = n if end < 0 else end + 2
                out.append(pattern[i - 2:end])
                i = end
            elif in_class and escape in "WS":
                raise ValueError(f"regex {_shown(pattern)} uses \\{escape} inside [...], "
                                 f"{_ENGINE} that way: write (?:\\{escape}|[…]) instead")
            elif escape == "C":
                raise ValueError(f"regex {_shown(pattern)} uses \\C (any byte), {_ENGINE}: "
                                 "use . for any character")
            elif escape in (_IN_CLASS if in_class else _OUTSIDE):
                out.append((_IN_CLASS if in_class else _OUTSIDE)[escape])
            elif escape in _CODEPOINT and (code := _CODEPOINT[escape].match(pattern, i)):
                out.append(f"\\x{{{code.group()}}}")
                i = code.end()
            elif escape == "N" and pattern.startswith("{", i) and "}" in pattern[i:]:
                name = pattern[i + 1:pattern.index("}", i)]
                try:
                    out.append(f"\\x{{{ord(unicodedata.lookup(name)):x}}}")
                except KeyError:
                    raise ValueError(f"regex {_shown(pattern)}: no character is named "
                                     f"{name!r}") from None
                i += len(name) + 2
            else:
                out.append(pattern[i - 2:i])
            continue
        if in_class:
            if char == "[" and pattern.startswith("[:", i) and ":]" in pattern[i:]:
                end = pattern.index(":]", i) + 2  # a POSIX class, [:alpha:], is one piece
                out.append(pattern[i:end])
                i = end
                continue
            in_class = char != "]"
        elif char == "[":
            in_class = True
            start = i + 1 + pattern.startswith("^", i + 1)
            if pattern.startswith("]", start):  # a ] right after [ or [^ is a character
                out.append(pattern[i:start] + "\\]")
                i = start + 1
                continue
        elif char == "{" and (repeat := _OPEN_REPEAT.match(pattern, i)):
            out.append(f"{{0,{repeat.group(1)}}}")
            i = repeat.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _explain(pattern: str, exc: re2.error) -> str:
    """RE2's complaint ("invalid perl operator: (?=") as what the desk wrote and what instead."""
    raw = exc.args[0] if exc.args else b""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    problem, _, fragment = message.partition(": ")
    what: tuple[str, str] | None = None
    if problem == "invalid perl operator":
        what = _UNSUPPORTED.get(fragment[:4]) or _UNSUPPORTED.get(fragment[:3])
        if what is None and fragment[2:].lstrip("-")[-1:] in _FLAGS:
            what = _FLAGS[fragment[-1]]
    elif problem == "invalid escape sequence" and fragment[1:2].isdigit():
        what = (f"a backreference ({fragment})",
                "spell the repeated text out, or list the alternatives with |")
    elif problem == "bad repetition operator" and len(fragment) > 1 and fragment.endswith("+"):
        what = (f"a possessive quantifier ({fragment})", _NO_BACKTRACKING)
    elif problem == "invalid repetition size" and max(map(int, re.findall(r"\d+", fragment)),
                                                        default=0) > 1000:
        what = (f"a repeat count over 1,000 ({fragment})", "use + or a smaller count")
    elif problem == "pattern too large - compile failed":
        return (f"regex {_shown(pattern)} is too large for claimwatch's linear-time regex engine "
                "(each \\w, \\d or \\s is a class of thousands of characters): repeat less, "
                "e.g. \\w+ rather than \\w{200}")
    if what is None:
        where = f" at {_shown(fragment)}" if fragment and fragment != pattern else ""
        return f"bad regex {_shown(pattern)}: {problem}{where}"
    return f"regex {_shown(pattern)} uses {what[0]}, {_ENGINE}: {what[1]}"


def _shown(pattern: str) -> str:
    """The pattern as the desk typed it (repr would double every backslash)."""
    return f"'{pattern}'" if pattern.isprintable() else repr(pattern)
