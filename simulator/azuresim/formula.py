"""Autoscale formula syntax, checked the way Batch checks it before it accepts a pool.

Batch answers a formula it cannot parse with 400 `AutoScalingFormulaSyntaxError` and one over
8,192 characters with 400 `AutoScalingFormulaTooLong` ("Batch Status and Error Codes";
"Create an automatic formula for scaling compute nodes in a Batch pool"). The grammar checked here
is the documented one: statements separated by `;`, each `$name = expression` (or `name =`),
expressions of numbers, strings, variables, `TimeInterval_*` constants, method calls
(`$PendingTasks.GetSample(...)`), function calls, unary/binary operators and `? :`; `//` comments.
Evaluation stays in `allocation.evaluate_formula`.
"""

from __future__ import annotations

import re

MAX_LENGTH = 8192

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
      | (?P<str>"[^"\n]*")
      | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()=\[\]])
    )""",
    re.VERBOSE,
)
SYNTAX = "AutoScalingFormulaSyntaxError"
_BINARY = {"+", "-", "*", "/", "%", "<", ">", "<=", ">=", "==", "!=", "&&", "||"}


class FormulaError(ValueError):
    """The formula is not valid; `code` is the Batch error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FormulaError(SYNTAX, f"unexpected character {text[pos:].lstrip()[:1]!r}")
        out.append(m.group(m.lastgroup or "op"))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            found = "end of statement" if tok is None else repr(tok)
            raise FormulaError(SYNTAX, f"expected {want or 'a value'}, found {found}")
        self.i += 1
        return tok

    def expression(self) -> None:
        self.binary()
        if self.peek() == "?":
            self.take("?")
            self.expression()
            self.take(":")
            self.expression()

    def binary(self) -> None:
        self.unary()
        while self.peek() in _BINARY:
            self.take()
            self.unary()

    def unary(self) -> None:
        while self.peek() in ("-", "!", "+"):
            self.take()
        self.postfix()

    def postfix(self) -> None:
        self.primary()
        while self.peek() in (".", "(", "["):
            tok = self.take()
            if tok == ".":
                name = self.take()
                if not re.fullmatch(r"[A-Za-z_]\w*", name):
                    raise FormulaError(SYNTAX, f"expected a method name, found {name!r}")
            elif tok == "(":
                self.arguments(")")
            else:
                self.arguments("]")

    def arguments(self, close: str) -> None:
        if self.peek() == close:
            self.take(close)
            return
        self.expression()
        while self.peek() == ",":
            self.take(",")
            self.expression()
        self.take(close)

    def primary(self) -> None:
        tok = self.take()
        if tok == "(":
            self.expression()
            self.take(")")
            return
        if tok[0].isdigit() or tok[0] in '."$' or tok[0].isalpha() or tok[0] == "_":
            if tok == ".":
                raise FormulaError(SYNTAX, "unexpected '.'")
            return
        raise FormulaError(SYNTAX, f"unexpected {tok!r}")


def _strip_comments(formula: str) -> str:
    return "\n".join(line.split("//", 1)[0] for line in formula.splitlines())


def validate(formula: str) -> None:
    """Raise FormulaError when Batch would refuse `formula`."""
    if len(formula) > MAX_LENGTH:
        raise FormulaError(
            "AutoScalingFormulaTooLong",
            f"The specified auto-scaling formula exceeds lengths limit ({len(formula)} > {MAX_LENGTH}).",
        )
    statements = [s for s in _strip_comments(formula).split(";") if s.strip()]
    if not statements:
        raise FormulaError(SYNTAX, "the formula has no statements")
    for n, statement in enumerate(statements, 1):
        try:
            tokens = _tokens(statement)
            if len(tokens) < 3 or tokens[1] != "=" or not re.fullmatch(r"\$?[A-Za-z_]\w*", tokens[0]):
                raise FormulaError(SYNTAX, "a statement must be '$variable = expression'")
            parser = _Parser(tokens[2:])
            parser.expression()
            if parser.peek() is not None:
                raise FormulaError(SYNTAX, f"unexpected {parser.peek()!r}")
        except FormulaError as exc:
            raise FormulaError(
                exc.code, f"The specified auto-scaling formula has a syntax error: statement {n}: {exc}."
            ) from None
