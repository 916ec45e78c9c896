"""Run search expressions, as MLflow's filter strings: `metrics.val_acc > 0.9 and params.lr = '0.01'`.

    expression := clause ( AND clause )*
    clause     := field op value
    field      := metrics.<key> | params.<key> | tags.<key> | attributes.<name> | <name>
                  (<key> may be quoted with backticks or double quotes when it has dots or spaces;
                   names: status, experiment, run_id, target, owner, created, start_time, end_time)
    op         := = != < <= > >=  | LIKE | ILIKE | IN (...) | NOT IN (...)
    value      := a number | 'text' | "text" | ( value, ... )

A metric compares its latest value (rank 0), as in MLflow. Params and tags are text: they take =, !=,
LIKE, ILIKE, IN. Parsing happens once, here; each store renders the result in its own SQL (`to_sql`),
so a filter costs one indexed query on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from runyard.errors import InvalidValueError


class FieldKind(str, Enum):
    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    ATTRIBUTE = "attributes"


class Op(str, Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"


# attribute name -> (column, is numeric)
ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "status": ("status", False), "experiment": ("experiment", False), "run_id": ("run_id", False),
    "target": ("target", False), "owner": ("owner", False), "created": ("created", True),
    "start_time": ("start_time", True), "end_time": ("end_time", True),
}
_PREFIXES = {"metric": FieldKind.METRIC, "metrics": FieldKind.METRIC, "param": FieldKind.PARAM,
             "params": FieldKind.PARAM, "parameters": FieldKind.PARAM, "tag": FieldKind.TAG, "tags": FieldKind.TAG,
             "attribute": FieldKind.ATTRIBUTE, "attributes": FieldKind.ATTRIBUTE, "attr": FieldKind.ATTRIBUTE,
             "run": FieldKind.ATTRIBUTE}
_TEXT_OPS = {Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.IN, Op.NOT_IN}
_NUMBER_OPS = {Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE}

_TOKEN = re.compile(r"""\s*(?:
    (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-:/]*)
)""", re.VERBOSE)


@dataclass(frozen=True)
class Clause:
    kind: FieldKind
    key: str
    op: Op
    value: float | str | tuple[str, ...]


@dataclass(frozen=True)
class RunFilter:
    """Clauses joined by AND. `text` is what the user wrote, for messages."""

    clauses: tuple[Clause, ...]
    text: str = ""


def _bad(text: str, reason: str) -> InvalidValueError:
    return InvalidValueError("filter", text, reason,
                             "write clauses like metrics.acc > 0.9 and params.lr = '0.01' (joined by AND; "
                             "text in quotes)")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _bad(text, f"cannot read {text[pos:].strip()[:20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _unquote(token: str) -> str:
    quote, body = token[0], token[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def parse(text: str) -> RunFilter:
    """Parse a filter string, or raise InvalidValueError naming the filter, what is wrong and the fix."""
    tokens = _tokens(text)
    clauses: list[Clause] = []
    i = 0

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(tokens):
            raise _bad(text, "ends in the middle of a clause")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        if clauses:
            _, word = take()
            if word.upper() == "OR":
                raise _bad(text, "uses OR; only AND joins clauses (as in MLflow)")
            if word.upper() != "AND":
                raise _bad(text, f"has {word!r} where AND was expected")
        clauses.append(_clause(text, take, lambda: tokens[i] if i < len(tokens) else ("", "")))
    if not clauses:
        raise _bad(text, "is empty")
    return RunFilter(tuple(clauses), text)


def _clause(text: str, take, peek) -> Clause:  # type: ignore[no-untyped-def]
    kind_, word = take()
    if kind_ != "word":
        raise _bad(text, f"has {word!r} where a field (metrics.<key>, params.<key>, ...) was expected")
    if word.lower() in _PREFIXES and peek()[1] == ".":
        field_kind = _PREFIXES[word.lower()]
        take()
        key_kind, key = take()
        if key_kind in ("string", "backtick"):
            key = _unquote(key) if key_kind == "string" else key[1:-1]
        elif key_kind != "word":
            raise _bad(text, f"has {key!r} where a key after {word}. was expected")
        else:  # an unquoted key may have dots: metrics.val.acc
            while peek()[1] == ".":
                take()
                key += "." + take()[1]
    elif word.lower() in ATTRIBUTES:
        field_kind, key = FieldKind.ATTRIBUTE, word.lower()
    else:
        raise _bad(text, f"has the field {word!r}; use metrics.<key>, params.<key>, tags.<key> or one of "
                         f"{sorted(ATTRIBUTES)}")
    if field_kind is FieldKind.ATTRIBUTE:
        key = key.lower()
        if key not in ATTRIBUTES:
            raise _bad(text, f"has attributes.{key}; attributes are {sorted(ATTRIBUTES)}")
    op_kind, op_text = take()
    op_word = op_text.upper()
    if op_kind == "word" and op_word == "NOT":
        if take()[1].upper() != "IN":
            raise _bad(text, "has NOT without IN")
        op = Op.NOT_IN
    elif op_kind == "word" and op_word in ("LIKE", "ILIKE", "IN"):
        op = Op(op_word)
    elif op_kind == "op":
        op = {"==": Op.EQ, "<>": Op.NE}.get(op_text) or Op(op_text)
    else:
        raise _bad(text, f"has {op_text!r} where a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) was expected")
    numeric = field_kind is FieldKind.METRIC or (field_kind is FieldKind.ATTRIBUTE and ATTRIBUTES[key][1])
    allowed = _NUMBER_OPS if numeric else _TEXT_OPS
    if op not in allowed:
        what = "numbers" if numeric else "text"
        raise _bad(text, f"compares {field_kind.value}.{key} with {op.value}; {what} take "
                         f"{', '.join(o.value for o in sorted(allowed, key=lambda o: o.value))}")
    value: float | str | tuple[str, ...]
    if op in (Op.IN, Op.NOT_IN):
        if take()[1] != "(":
            raise _bad(text, f"has {op.value} without a list in parentheses")
        items: list[str] = []
        while True:
            item_kind, item = take()
            if item_kind != "string":
                raise _bad(text, f"has {item!r} in an IN list; list items are quoted text")
            items.append(_unquote(item))
            sep = take()[1]
            if sep == ")":
                break
            if sep != ",":
                raise _bad(text, f"has {sep!r} in an IN list where , or ) was expected")
        value = tuple(items)
    else:
        value_kind, raw = take()
        if numeric:
            if value_kind != "number":
                raise _bad(text, f"compares {field_kind.value}.{key} with {raw!r}, which is not a number")
            value = float(raw)
        else:
            if value_kind != "string":
                raise _bad(text, f"compares {field_kind.value}.{key} with {raw}; text values are quoted: '{raw}'")
            value = _unquote(raw)
    return Clause(field_kind, key, op, value)


def to_sql(where: RunFilter, placeholder: str, run_column: str = "runs.run_id",
           case_sensitive_like: str = "LIKE") -> tuple[str, list[object]]:
    """`where` as one SQL condition over the runs table, with `placeholder` (? or %s) parameters."""
    parts: list[str] = []
    params: list[object] = []
    p = placeholder
    for c in where.clauses:
        op = c.op.value
        if c.op in (Op.IN, Op.NOT_IN):
            assert isinstance(c.value, tuple)
            rhs = "(" + ",".join([p] * len(c.value)) + ")"
            values: list[object] = list(c.value)
        else:
            rhs, values = p, [c.value]
        if c.op is Op.ILIKE:
            lhs_wrap, rhs = "lower({})", f"lower({p})"
            op = "LIKE"
        elif c.op is Op.LIKE:
            lhs_wrap, op = "{}", case_sensitive_like
        else:
            lhs_wrap = "{}"
        if c.kind is FieldKind.ATTRIBUTE:
            parts.append(f"{lhs_wrap.format('runs.' + ATTRIBUTES[c.key][0])} {op} {rhs}")
            params += values
            continue
        table, column, extra = {FieldKind.METRIC: ("metric_summary", "last_value", " AND f.rank = 0"),
                                FieldKind.PARAM: ("params", "value", ""),
                                FieldKind.TAG: ("tags", "value", "")}[c.kind]
        negate = c.op in (Op.NE, Op.NOT_IN) and c.kind is not FieldKind.METRIC
        if negate:  # a run without the key is not "!= x"... but MLflow says so only for present keys
            op = "=" if c.op is Op.NE else "IN"
        parts.append(f"EXISTS (SELECT 1 FROM {table} f WHERE f.run_id = {run_column} AND f.key = {p}{extra}"
                     f" AND {lhs_wrap.format('f.' + column)} {op} {rhs})")
        if negate:
            parts[-1] = (f"EXISTS (SELECT 1 FROM {table} f WHERE f.run_id = {run_column} AND f.key = {p}{extra}) "
                         f"AND NOT {parts[-1]}")
            params += [c.key]
        params += [c.key, *values]
    return " AND ".join(parts), params
