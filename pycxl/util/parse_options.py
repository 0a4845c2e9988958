"""Command-line option parsing with the behaviour of the ndctl tools' git/perf-style parser.

The cxl, ndctl and daxctl sub-commands all parse their arguments the same way:

* options and positional arguments may be interleaved, ``--`` ends option parsing and a lone
  ``-`` is a positional argument;
* short options can be bundled (``-BMu``); a short option that takes a value uses the rest of
  the bundle (``-mmem0``) or else the next argument;
* long options accept ``--name value`` and ``--name=value``, any unambiguous prefix of the name,
  and a ``--no-<name>`` negation;
* ``-h``/``--help``/``--help-all`` print the usage block on stderr (exit 129),
  ``--list-opts`` prints the long option names on stdout (exit 130);
* errors print ``  Error: <message>`` and a full or abbreviated usage block on stderr (exit 129).

Messages, usage blocks and exit statuses are reproduced byte for byte.  Command lines are
processed as bytes (``os.fsencode``), the way the C tools see them, so that e.g. a multi-byte
character in a bundle of short options is reported exactly like upstream does.  Strings in the
results and in :class:`UsageExit` are decoded with ``os.fsdecode`` (surrogate escapes for bytes
that are not valid in the file-system encoding); :meth:`UsageExit.emit` writes them back as the
original bytes.

This module is generic: the option tables belong to the commands that use it.
"""

from __future__ import annotations

import os
import sys

# typing and dataclasses would cost every run their import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Literal

    OptKind = Literal["bool", "counter", "string", "filename", "integer", "uinteger", "long", "u64"]

__all__ = [
    "EXIT_LIST",
    "EXIT_USAGE",
    "OPT_KINDS",
    "Opt",
    "UsageExit",
    "parse_options",
    "usage_text",
]

OPT_KINDS = ("bool", "counter", "string", "filename", "integer", "uinteger", "long", "u64")
"""Option types (``OptKind``, their static type, lists the same names).

* ``bool``: a flag; ``True`` when given, ``False`` after ``--no-<name>``.
* ``counter``: a flag counting its occurrences (``-vvv`` gives 3); ``--no-<name>`` resets to 0.
* ``string``: takes a value, stored as ``str``; ``--no-<name>`` stores ``None``.
* ``filename``: same as ``string`` (upstream's file-name options behave identically here).
* ``integer``: decimal value stored as a C ``int`` (wraps to 32 bits, signed).
* ``uinteger``: decimal value stored as a C ``unsigned int`` (wraps to 32 bits).
* ``long``: decimal value stored as a C ``long`` (64 bits).
* ``u64``: decimal value parsed like ``strtoull`` (a leading ``-`` negates modulo 2**64).

All integer kinds: ``--no-<name>`` stores 0, and the whole value must be a number
(``strtol`` rules: leading white space and a sign are accepted, an empty string is 0).
"""

EXIT_USAGE = 129
"""Exit status after a usage error or ``-h``/``--help``/``--help-all``."""
EXIT_LIST = 130
"""Exit status after ``--list-opts`` and ``--list-cmds``."""

_USAGE_OPTS_WIDTH = 24
_USAGE_GAP = 2
_ERROR_MESSAGE_MAX = 1023  # upstream formats error messages into a 1024-byte buffer

_FLAG_KINDS = frozenset({"bool", "counter"})
_STRING_KINDS = frozenset({"string", "filename"})

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_C_SPACE = b" \t\n\v\f\r"


class Opt:
    """One entry of an option table (the order of the table matters, as upstream).

    ``short`` is a single ASCII character or ``None``; ``long`` is the long name without dashes
    or ``None``.  ``argh`` is the value placeholder shown in the usage block for string options
    (``<argh>``; ``...`` when it is ``None``); integer options always show ``<n>``.  ``dest`` is
    the key in the result dictionary and defaults to the long name with ``-`` replaced by ``_``
    (or to the short letter).  ``default`` is the initial value; ``None`` means the kind's own
    default (``False``, ``0``, ``None`` for strings, ``0`` for integers).  Several options may
    share a ``dest``; the first one in the table provides its initial value.

    ``noneg`` (upstream ``PARSE_OPT_NONEG``) rejects ``--no-<name>``; ``hidden``
    (``PARSE_OPT_HIDDEN``) leaves the option out of the usage block except with ``--help-all``.

    Options are values: equal when their fields are (and never changed once made).
    """

    __slots__ = ("argh", "default", "dest", "help", "hidden", "kind", "long", "noneg", "short")
    #: The fields in constructor order, for comparison and repr.
    _FIELDS = ("short", "long", "kind", "help", "argh", "dest", "default", "noneg", "hidden")

    def __init__(
        self,
        short: str | None,
        long: str | None,
        kind: OptKind,
        help: str,
        argh: str | None = None,
        dest: str = "",
        default: object = None,
        noneg: bool = False,
        hidden: bool = False,
    ) -> None:
        if kind not in OPT_KINDS:
            raise ValueError(f"unknown option kind {kind!r}")
        if short is not None and (len(short) != 1 or not short.isascii()):
            raise ValueError(f"short option must be one ASCII character, got {short!r}")
        if short == "\0":
            raise ValueError("short option cannot be NUL")
        if long is not None and (not long or "=" in long):
            raise ValueError(f"invalid long option name {long!r}")
        if short is None and long is None:
            raise ValueError("an option needs a short or a long name")
        if not dest:
            dest = long.replace("-", "_") if long is not None else str(short)
        self.short = short
        self.long = long
        self.kind = kind
        self.help = help
        self.argh = argh
        self.dest = dest
        self.default = default
        self.noneg = noneg
        self.hidden = hidden

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in Opt._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Opt):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in Opt._FIELDS)
        return f"Opt({fields})"

    def initial_value(self) -> object:
        """The value the option's ``dest`` starts with."""
        if self.default is not None:
            return self.default
        if self.kind == "bool":
            return False
        if self.kind in _STRING_KINDS:
            return None
        return 0


class UsageExit(Exception):
    """Raised when parsing must end the program: carries everything to print.

    ``code`` is the exit status (129 for errors and help, 130 for ``--list-opts`` and
    ``--list-cmds``); ``stdout`` and ``stderr`` are the exact texts to write (possibly empty).
    """

    code: int
    stdout: str
    stderr: str

    def __init__(self, code: int, stdout: str = "", stderr: str = "") -> None:
        super().__init__(code, stdout, stderr)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __str__(self) -> str:
        return self.stderr or self.stdout or f"exit {self.code}"

    def emit(self) -> int:
        """Write ``stdout`` and ``stderr`` as the original bytes; return ``code``."""
        for text, stream in ((self.stdout, sys.stdout), (self.stderr, sys.stderr)):
            if text:
                stream.flush()
                stream.buffer.write(os.fsencode(text))
                stream.buffer.flush()
        return self.code


# --------------------------------------------------------------------------------------------
# number conversion (C library semantics)


def _scan_decimal(raw: bytes) -> tuple[bool, int, bool]:
    """Scan ``raw`` the way ``strtol(raw, &end, 10)`` does.

    Returns ``(negative, magnitude, complete)``: the sign, the exact (unbounded) magnitude of
    the digits, and whether ``*end`` is the terminating NUL (an empty string is complete, a
    string without digits is not).
    """
    pos = 0
    while pos < len(raw) and raw[pos] in _C_SPACE:
        pos += 1
    negative = False
    if pos < len(raw) and raw[pos] in b"+-":
        negative = raw[pos] == ord("-")
        pos += 1
    start = pos
    while pos < len(raw) and 0x30 <= raw[pos] <= 0x39:
        pos += 1
    if pos == start:  # no conversion: the end pointer is the start of the string
        return False, 0, not raw
    return negative, int(raw[start:pos]), pos == len(raw)


def _strtol(raw: bytes) -> tuple[int, bool]:
    negative, magnitude, complete = _scan_decimal(raw)
    value = -magnitude if negative else magnitude
    return min(max(value, _INT64_MIN), _INT64_MAX), complete


def _wrap(value: int, bits: int, signed: bool) -> int:
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _to_int(raw: bytes) -> tuple[int, bool]:
    value, complete = _strtol(raw)
    return _wrap(value, 32, True), complete


def _to_uint(raw: bytes) -> tuple[int, bool]:
    value, complete = _strtol(raw)
    return _wrap(value, 32, False), complete


def _to_u64(raw: bytes) -> tuple[int, bool]:
    negative, magnitude, complete = _scan_decimal(raw)
    if magnitude > _UINT64_MAX:
        return _UINT64_MAX, complete
    return (-magnitude if negative else magnitude) & _UINT64_MAX, complete


_CONVERTERS: dict[str, Callable[[bytes], tuple[int, bool]]] = {
    "integer": _to_int,
    "uinteger": _to_uint,
    "long": _strtol,
    "u64": _to_u64,
}


# --------------------------------------------------------------------------------------------
# usage text


def _b(text: str) -> bytes:
    return os.fsencode(text)


def _usage_header(usage: Sequence[str]) -> bytes:
    """The ``usage:``/``or:`` lines (plus any free-form lines after an empty entry)."""
    lines = [_b(line) for line in usage]
    first = lines[0] if lines else b"(null)"
    out = [b"\n usage: " + first + b"\n"]
    index = 1
    while index < len(lines) and lines[index]:
        out.append(b"    or: " + lines[index] + b"\n")
        index += 1
    for line in lines[index:]:
        out.append((b"    " + line if line else b"") + b"\n")
    return b"".join(out)


def _option_help(opt: Opt, full: bool) -> bytes:
    """One option's line(s) of the usage block (empty for a hidden option)."""
    if opt.hidden and not full:
        return b""
    left = b"    " + (b"-" + _b(opt.short) if opt.short is not None else b"    ")
    if opt.long is not None:
        if opt.short is not None:
            left += b", "
        left += b"--" + _b(opt.long)
    if opt.kind in _CONVERTERS:
        left += b" <n>"
    elif opt.kind in _STRING_KINDS:
        left += b" <" + _b(opt.argh) + b">" if opt.argh is not None else b" ..."
    if len(left) <= _USAGE_OPTS_WIDTH:
        pad = _USAGE_OPTS_WIDTH - len(left)
    else:
        left += b"\n"
        pad = _USAGE_OPTS_WIDTH
    return left + b" " * (pad + _USAGE_GAP) + _b(opt.help) + b"\n"


def _usage_block(usage: Sequence[str], opts: Sequence[Opt], full: bool) -> bytes:
    body = b"".join(_option_help(opt, full) for opt in opts)
    return _usage_header(usage) + b"\n" + body + b"\n"


def usage_text(usage: Sequence[str], opts: Sequence[Opt], *, full: bool = False) -> str:
    """The full usage block exactly as upstream prints it on ``-h`` (``--help-all``: ``full``).

    The first usage string is printed as `` usage: <line>``, the following ones as
    ``    or: <line>``; after an empty string the remaining strings are printed as free text
    indented by four spaces.
    """
    return os.fsdecode(_usage_block(usage, opts, full))


def _error_line(message: bytes) -> bytes:
    return b"  Error: " + message[:_ERROR_MESSAGE_MAX] + b"\n"


# --------------------------------------------------------------------------------------------
# parsing


class _OptionError(Exception):
    """A failed option: error message, then the abbreviated usage block."""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.message = message


class _Candidate:
    """A long option a command-line word may designate, and whether it is the negation."""

    __slots__ = ("opt", "unset")

    def __init__(self, opt: Opt, unset: bool) -> None:
        self.opt = opt
        self.unset = unset


class _Parser:
    def __init__(self, argv: Sequence[str], opts: Sequence[Opt], usage: Sequence[str]) -> None:
        self.args = [os.fsencode(arg) for arg in argv]
        self.opts = opts
        self.usage = usage
        self.index = 0
        # Text still to be parsed in a bundle of short options, or the value attached to a long
        # option with '='; None when there is none.
        self.pending: bytes | None = None
        self.positionals: list[bytes] = []
        self.values: dict[str, object] = {}
        for opt in opts:
            self.values.setdefault(opt.dest, opt.initial_value())

    # -- results and exits -------------------------------------------------------------------

    def _exit(self, stderr: bytes = b"", stdout: bytes = b"", code: int = EXIT_USAGE) -> UsageExit:
        return UsageExit(code, os.fsdecode(stdout), os.fsdecode(stderr))

    def _help(self, full: bool) -> UsageExit:
        return self._exit(_usage_block(self.usage, self.opts, full))

    def _unknown(self, message: bytes) -> UsageExit:
        return self._exit(_error_line(message) + _usage_block(self.usage, self.opts, False))

    def _abbreviated(self, message: bytes, word: bytes, short: bool) -> UsageExit:
        """Error message, usage header and the help of the first option ``word`` designates."""
        text = _error_line(message) + _usage_header(self.usage) + b"\n"
        if short:
            opt = self._find_short(word[:1])
            return self._exit(text + _option_help(opt, False) if opt is not None else text)
        for opt in self.opts:
            if opt.long is None:
                continue
            name = _b(opt.long)
            if word.startswith(name) or (word.startswith(b"no-") and word[3:].startswith(name)):
                return self._exit(text + _option_help(opt, False))
        return self._exit(text)

    # -- values ------------------------------------------------------------------------------

    @staticmethod
    def _describe(opt: Opt, short: bool, unset: bool, reason: str) -> bytes:
        if short:
            return b"switch `" + _b(opt.short or "") + b"' " + _b(reason)
        prefix = b"no-" if unset else b""
        return b"option `" + prefix + _b(opt.long or "") + b"' " + _b(reason)

    def _argument(self, opt: Opt, short: bool) -> bytes:
        if self.pending is not None:
            value, self.pending = self.pending, None
            return value
        if self.index + 1 < len(self.args):
            self.index += 1
            return self.args[self.index]
        raise _OptionError(self._describe(opt, short, False, "requires a value"))

    def _store(self, opt: Opt, short: bool, unset: bool) -> None:
        if unset and self.pending is not None:
            raise _OptionError(self._describe(opt, short, unset, "takes no value"))
        if unset and opt.noneg:
            raise _OptionError(self._describe(opt, short, unset, "isn't available"))
        if not short and self.pending is not None and opt.kind in _FLAG_KINDS:
            raise _OptionError(self._describe(opt, short, unset, "takes no value"))

        if opt.kind == "bool":
            self.values[opt.dest] = not unset
        elif opt.kind == "counter":
            current = self.values.get(opt.dest)
            count = current if isinstance(current, int) else 0
            self.values[opt.dest] = 0 if unset else count + 1
        elif opt.kind in _STRING_KINDS:
            self.values[opt.dest] = None if unset else os.fsdecode(self._argument(opt, short))
        elif unset:
            self.values[opt.dest] = 0
        else:
            number, complete = _CONVERTERS[opt.kind](self._argument(opt, short))
            self.values[opt.dest] = number
            if not complete:
                raise _OptionError(self._describe(opt, short, unset, "expects a numerical value"))

    # -- short options -----------------------------------------------------------------------

    def _find_short(self, letter: bytes) -> Opt | None:
        for opt in self.opts:
            if opt.short is not None and _b(opt.short) == letter:
                return opt
        return None

    def _short_bundle(self, arg: bytes) -> None:
        """Parse ``arg`` (``-x...``): one or more short options, maybe ending with a value."""
        self.pending = arg[1:]
        first = True
        while self.pending:
            letter = self.pending[:1]
            if letter == b"h":
                raise self._help(False)
            opt = self._find_short(letter)
            if opt is None:
                if letter == b"-":
                    # upstream rewrites the rest of the bundle into a "--..." word
                    raise self._unknown(b"unknown option `" + self.pending[1:] + b"'")
                raise self._unknown(b"unknown switch `" + letter + b"'")
            self.pending = self.pending[1:] or None
            try:
                self._store(opt, True, False)
            except _OptionError as error:
                raise self._abbreviated(error.message, letter, True) from None
            if first and self.pending:
                self._check_typos(arg[1:])
            first = False

    def _check_typos(self, word: bytes) -> None:
        """``-idle``: a single-dash word that looks like a long option is rejected."""
        if len(word) < 3:
            return
        looks_long = word.startswith(b"no-") or any(
            opt.long is not None and _b(opt.long).startswith(word) for opt in self.opts
        )
        if looks_long:
            message = b"did you mean `--" + word + b"` (with two dashes ?)"
            raise self._exit(_error_line(message))

    # -- long options ------------------------------------------------------------------------

    @staticmethod
    def _classify(name: bytes, word: bytes, key: bytes) -> tuple[str, bytes, bool]:
        """How long option ``name`` relates to ``word`` (``key`` is ``word`` up to any ``=``).

        Returns ``("exact", rest, unset)`` when ``word`` spells the name (``rest`` is what
        follows it), ``("prefix", b"", unset)`` when ``word`` abbreviates it, and
        ``("none", b"", False)`` otherwise.
        """
        if word.startswith(name):
            return "exact", word[len(name) :], False
        if name.startswith(b"no-"):
            # An option called "no-x" is negated by "--x" (and by its prefixes).
            if word.startswith(name[3:]):
                return "exact", word[len(name) - 3 :], True
            if name[3:].startswith(word):
                return "prefix", b"", True
        if name.startswith(key):
            return "prefix", b"", False
        if b"no-".startswith(word):  # "--n", "--no", "--no-" abbreviate every negation
            return "prefix", b"", True
        if not word.startswith(b"no-"):
            return "none", b"", False
        if word[3:].startswith(name):
            return "exact", word[3 + len(name) :], True
        if name.startswith(word[3:]):
            return "prefix", b"", True
        return "none", b"", False

    def _long(self, word: bytes) -> bool:
        """Parse ``--word``; False when no option matches."""
        equals = word.find(b"=")
        key = word if equals < 0 else word[:equals]
        found: _Candidate | None = None
        ambiguous: _Candidate | None = None
        for opt in self.opts:
            if opt.long is None:
                continue
            relation, rest, unset = self._classify(_b(opt.long), word, key)
            if relation == "none":
                continue
            if relation == "prefix":
                if found is not None:
                    ambiguous = found
                if not unset and equals >= 0:
                    self.pending = word[equals + 1 :]
                found = _Candidate(opt, unset)
                continue
            if rest:
                if not rest.startswith(b"="):
                    continue
                self.pending = rest[1:]
            self._store(opt, False, unset)
            return True
        if ambiguous is not None and found is not None:
            raise _OptionError(
                b"Ambiguous option: "
                + word
                + b" (could be --"
                + (b"no-" if ambiguous.unset else b"")
                + _b(ambiguous.opt.long or "")
                + b" or --"
                + (b"no-" if found.unset else b"")
                + _b(found.opt.long or "")
                + b")"
            )
        if found is not None:
            self._store(found.opt, False, found.unset)
            return True
        return False

    def _long_word(self, word: bytes) -> None:
        if word == b"help-all":
            raise self._help(True)
        if word == b"help":
            raise self._help(False)
        if word == b"list-opts":
            names = b"".join(
                b"--" + (_b(opt.long) if opt.long is not None else b"(null)") + b" "
                for opt in self.opts
            )
            raise self._exit(stdout=names, code=EXIT_LIST)
        if word == b"list-cmds":
            raise self._exit(code=EXIT_LIST)
        try:
            matched = self._long(word)
        except _OptionError as error:
            raise self._abbreviated(error.message, word, False) from None
        if not matched:
            raise self._unknown(b"unknown option `" + word + b"'")

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> tuple[dict[str, object], list[str]]:
        while self.index < len(self.args):
            arg = self.args[self.index]
            if not arg.startswith(b"-") or arg == b"-":
                self.positionals.append(arg)
            elif not arg.startswith(b"--"):
                self._short_bundle(arg)
            elif arg == b"--":
                self.positionals.extend(self.args[self.index + 1 :])
                break
            else:
                self._long_word(arg[2:])
            self.index += 1
        return self.values, [os.fsdecode(arg) for arg in self.positionals]


def parse_options(
    argv: Sequence[str], opts: Sequence[Opt], usage: Sequence[str]
) -> tuple[dict[str, object], list[str]]:
    """Parse ``argv`` (without the command name) against the option table ``opts``.

    Returns the option values keyed by ``Opt.dest`` (every ``dest`` is present, with its
    initial value when the option was not given) and the positional arguments in order.
    Raises :class:`UsageExit` for help, ``--list-opts``/``--list-cmds`` and every error.
    """
    return _Parser(argv, opts, usage).run()
