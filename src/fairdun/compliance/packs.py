"""Policy packs: the law as versioned YAML data, loaded strictly.

Loading is three steps, each reporting ``file:line:column`` and the field:

1. **Safe YAML.** ``yaml.SafeLoader`` composes the node tree (no Python objects, no
   tags beyond the YAML core). Duplicate keys and merge keys are refused; each value
   keeps the position of its key.
2. **Schema.** Pydantic models with ``extra="forbid"``: an unknown key, a missing field
   or a wrong type is an error at its line. Quote times (``"08:00"``) and versions: an
   unquoted ``21:00`` is the YAML 1.1 integer 1260, and the schema says so.
3. **Semantics.** Rule ids are unique and start with the pack id and a dot; every rule
   names a known kind (``rules.KINDS``) and its ``params`` are checked against that
   kind's own strict model.

An institution may layer **overlays** on a pack: stricter parameters, or more channels,
for named rules. Every parameter declares which way is stricter
(:class:`~fairdun.compliance.rules.Stricter`); an override that is looser, or that names
an unknown rule or parameter, is refused naming the rule and parameter. The loaded pack's
``effective_version`` names the overlays (``2026.1+acme-bank.3``), so every decision
records exactly which rules decided.

Overlay file format::

    overlay: acme-bank          # the institution's id for this overlay
    version: "3"
    pack: us-regf               # the pack it applies to
    pack_version: "2026.1"      # optional: refuse any other version of the pack
    rules:
      us-regf.call-7in7:
        params: {max_calls: 5}
        channels: [call, sms]   # optional: the pack's channels plus more
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from fairdun.compliance.events import Channel
from fairdun.compliance.rules import KINDS, Params, RuleRuntime, Stricter, directions

PACKS_DIR = Path(__file__).parent / "packs"
GOLDEN_DIR = PACKS_DIR / "golden"

Path_ = tuple[str | int, ...]


# --- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pack or overlay file, with where it is."""

    file: str
    line: int | None
    column: int | None
    where: str
    message: str

    def __str__(self) -> str:
        position = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return (
            f"{position}: {self.where}: {self.message}"
            if self.where
            else (f"{position}: {self.message}")
        )


class PackError(Exception):
    """A pack or overlay that cannot be used; ``problems`` lists every error found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = tuple(problems)


# --- the loaded pack --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    source: str
    section: str
    grade: Literal["V", "S", "M"]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: str
    title_en: str
    title_zh: str
    description: str
    channels: tuple[Channel, ...]
    params: Params
    citations: tuple[Citation, ...]

    def runtime(self) -> RuleRuntime:
        """A fresh instance of the rule with empty state."""
        return KINDS[self.kind](self.id, frozenset(self.channels), self.params)


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    version: str
    jurisdiction: str
    title_en: str
    title_zh: str
    rules: tuple[Rule, ...]
    source: str
    overlays: tuple[str, ...] = field(default=())

    @property
    def effective_version(self) -> str:
        """The pack version and the overlays layered on it, as decisions record it."""
        return self.version + "".join(f"+{label}" for label in self.overlays)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --- schema -------------------------------------------------------------------------------

_Id = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9-]*$")]
_RuleId = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$")]
_Text = Annotated[StrictStr, Field(min_length=1)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Title(_Closed):
    en: _Text
    zh_hans: _Text = Field(alias="zh-Hans")


class _Citation(_Closed):
    source: _Text
    section: _Text
    grade: Literal["V", "S", "M"]
    note: StrictStr = ""


class _RuleSpec(_Closed):
    id: _RuleId
    kind: _Text
    title: _Title
    description: StrictStr = ""
    channels: Annotated[list[Channel], Field(min_length=1)]
    params: dict[str, Any]
    citations: Annotated[list[_Citation], Field(min_length=1)]


class _PackSpec(_Closed):
    id: _Id
    version: _Text
    jurisdiction: _Text
    title: _Title
    rules: Annotated[list[_RuleSpec], Field(min_length=1)]


class _RuleOverride(_Closed):
    params: dict[str, Any] = Field(default_factory=dict)
    channels: list[Channel] | None = None


class _OverlaySpec(_Closed):
    overlay: _Id
    version: _Text
    pack: _Id
    pack_version: StrictStr | None = None
    rules: dict[str, _RuleOverride]


# --- YAML with positions --------------------------------------------------------------------


class _Document:
    """Plain data read from a YAML file, with the position of every key and item."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.data: object = None
        self.problems: list[Problem] = []

    def position(self, path: Path_) -> tuple[int | None, int | None]:
        for end in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:end]))
            if mark is not None:
                return mark
        return None, None

    def problem(self, path: Path_, message: str, where: str | None = None) -> Problem:
        line, column = self.position(path)
        return Problem(
            self.file, line, column, where if where is not None else _dotted(path), message
        )


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _read_yaml(source: Path | str, text: str | None = None) -> _Document:
    name = str(source)
    doc = _Document(name)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            doc.problems.append(Problem(name, None, None, "", f"cannot read: {exc}"))
            return doc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.problems.append(Problem(name, 1, 1, "", "empty file"))
            return doc
        doc.marks[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
        doc.data = _convert(loader, node, (), doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        doc.problems.append(
            Problem(name, line, column, "", f"not valid YAML: {exc.problem or exc.context}")
        )
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(name, None, None, "", f"not valid YAML: {exc}"))
    finally:
        loader.dispose()
    return doc


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, doc: _Document) -> object:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key_node.tag == "tag:yaml.org,2002:merge" or key == "<<":
                doc.problems.append(
                    Problem(doc.file, *mark, _dotted(path), "merge keys (<<) are not allowed")
                )
                continue
            if not isinstance(key, str):
                doc.problems.append(
                    Problem(doc.file, *mark, _dotted(path), f"key {key!r} is not text; quote it")
                )
                continue
            if key in result:
                doc.problems.append(
                    Problem(doc.file, *mark, _dotted((*path, key)), "duplicate key")
                )
                continue
            doc.marks[(*path, key)] = mark
            result[key] = _convert(loader, value_node, (*path, key), doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        items: list[object] = []
        for index, item in enumerate(node.value):
            doc.marks[(*path, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_convert(loader, item, (*path, index), doc))
        return items
    return loader.construct_object(node, deep=True)


def _schema_problems(
    doc: _Document, exc: ValidationError, prefix: Path_ = (), label: str = ""
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc: Path_ = (*prefix, *error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key missing"
        elif "input" in error and error["type"] not in ("model_type", "dict_type"):
            message = f"{message} (got {error['input']!r})"
        where = _dotted(loc)
        if label:
            where = f"{label}: {where}"
        problems.append(doc.problem(loc, message, where))
    return problems


# --- loading -------------------------------------------------------------------------------


def builtin_pack_ids() -> list[str]:
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def resolve(ref: str | Path) -> Path:
    """A pack file: a path, or the id of a pack shipped with fairdun (``us-regf``, ``cn``)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    builtin = PACKS_DIR / f"{ref}.yaml"
    if builtin.is_file():
        return builtin
    known = ", ".join(builtin_pack_ids())
    raise PackError([Problem(str(ref), None, None, "", f"no such pack file or pack id ({known})")])


def load(ref: str | Path, overlays: Iterable[str | Path] = ()) -> Pack:
    """Load a pack (path or shipped id) and layer the overlays on it, in order."""
    pack = load_file(resolve(ref))
    for overlay in overlays:
        pack = apply_overlay(pack, overlay)
    return pack


def load_file(path: Path | str, text: str | None = None) -> Pack:
    """Load and check one pack file; raises :class:`PackError` with every problem found."""
    doc = _read_yaml(path, text)
    if doc.problems:
        raise PackError(doc.problems)
    try:
        spec = _PackSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise PackError(_schema_problems(doc, exc)) from None
    problems: list[Problem] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(spec.rules):
        at: Path_ = ("rules", index)
        label = f"rule {raw.id}"
        if raw.id in seen:
            problems.append(doc.problem((*at, "id"), "duplicate rule id", label))
        seen.add(raw.id)
        if not raw.id.startswith(f"{spec.id}."):
            problems.append(
                doc.problem(
                    (*at, "id"), f"rule ids must start with the pack id {spec.id!r}.", label
                )
            )
        runtime = KINDS.get(raw.kind)
        if runtime is None:
            problems.append(
                doc.problem(
                    (*at, "kind"),
                    f"unknown rule kind {raw.kind!r}; known kinds: {', '.join(sorted(KINDS))}",
                    label,
                )
            )
            continue
        if len(set(raw.channels)) != len(raw.channels):
            problems.append(doc.problem((*at, "channels"), "a channel is listed twice", label))
        try:
            params = runtime.params_model.model_validate(raw.params)
        except ValidationError as exc:
            problems.extend(_schema_problems(doc, exc, (*at, "params"), label))
            continue
        rules.append(
            Rule(
                id=raw.id,
                kind=raw.kind,
                title_en=raw.title.en,
                title_zh=raw.title.zh_hans,
                description=raw.description.strip(),
                channels=tuple(raw.channels),
                params=params,
                citations=tuple(
                    Citation(c.source, c.section, c.grade, c.note) for c in raw.citations
                ),
            )
        )
    if problems:
        raise PackError(problems)
    return Pack(
        id=spec.id,
        version=spec.version,
        jurisdiction=spec.jurisdiction,
        title_en=spec.title.en,
        title_zh=spec.title.zh_hans,
        rules=tuple(rules),
        source=str(path),
    )


_LOOSER = {
    Stricter.LOWER: "an override may only lower it",
    Stricter.HIGHER: "an override may only raise it",
    Stricter.SUBSET: "an override may only remove entries",
    Stricter.SUPERSET: "an override may only add entries",
    Stricter.FIXED: "it cannot be overridden",
}


def is_stricter_or_equal(direction: Stricter, old: object, new: object) -> bool:
    """Whether ``new`` is at least as strict as ``old`` for a parameter of ``direction``."""
    if direction is Stricter.LOWER:
        return new <= old  # type: ignore[operator, no-any-return]
    if direction is Stricter.HIGHER:
        return new >= old  # type: ignore[operator, no-any-return]
    if direction is Stricter.SUBSET:
        return set(new) <= set(old)  # type: ignore[call-overload, no-any-return]
    if direction is Stricter.SUPERSET:
        return set(new) >= set(old)  # type: ignore[call-overload, no-any-return]
    return new == old


def apply_overlay(pack: Pack, source: str | Path, text: str | None = None) -> Pack:
    """Layer an institution's stricter overrides on ``pack``; refuse anything looser."""
    doc = _read_yaml(source, text)
    if doc.problems:
        raise PackError(doc.problems)
    try:
        spec = _OverlaySpec.model_validate(doc.data)
    except ValidationError as exc:
        raise PackError(_schema_problems(doc, exc)) from None
    problems: list[Problem] = []
    if spec.pack != pack.id:
        problems.append(
            doc.problem(("pack",), f"overlay is for pack {spec.pack!r}, not {pack.id!r}")
        )
    if spec.pack_version is not None and spec.pack_version != pack.version:
        problems.append(
            doc.problem(
                ("pack_version",),
                f"overlay is for version {spec.pack_version!r}; the pack is {pack.version!r}",
            )
        )
    by_id = {rule.id: rule for rule in pack.rules}
    replaced: dict[str, Rule] = {}
    for rule_id, override in spec.rules.items():
        path: Path_ = ("rules", rule_id)
        label = f"rule {rule_id}"
        rule = by_id.get(rule_id)
        if rule is None:
            problems.append(doc.problem(path, f"no rule {rule_id!r} in pack {pack.id}", label))
            continue
        model = type(rule.params)
        ways = directions(model)
        current = rule.params.model_dump()
        looser = False
        for name in override.params:
            if name not in ways:
                problems.append(
                    doc.problem(
                        (*path, "params", name),
                        f"unknown parameter {name!r}; {rule.kind} has {', '.join(ways)}",
                        f"{label}: params.{name}",
                    )
                )
                looser = True
        if looser:
            continue
        try:
            params = model.model_validate({**current, **override.params})
        except ValidationError as exc:
            problems.extend(_schema_problems(doc, exc, (*path, "params"), label))
            continue
        merged = params.model_dump()
        for name in override.params:
            way = ways[name]
            if not is_stricter_or_equal(way, current[name], merged[name]):
                problems.append(
                    doc.problem(
                        (*path, "params", name),
                        f"{_show(merged[name])} is looser than the pack's {_show(current[name])} "
                        f"({way}: {_LOOSER[way]}); refused",
                        f"{label}: params.{name}",
                    )
                )
        channels = rule.channels
        if override.channels is not None:
            if not set(override.channels) >= set(rule.channels):
                dropped = sorted(c.value for c in set(rule.channels) - set(override.channels))
                problems.append(
                    doc.problem(
                        (*path, "channels"),
                        f"drops channel(s) {', '.join(dropped)}: an override may only add "
                        "channels; refused",
                        f"{label}: channels",
                    )
                )
            channels = tuple(dict.fromkeys((*rule.channels, *override.channels)))
        replaced[rule_id] = Rule(
            id=rule.id,
            kind=rule.kind,
            title_en=rule.title_en,
            title_zh=rule.title_zh,
            description=rule.description,
            channels=channels,
            params=params,
            citations=rule.citations,
        )
    if problems:
        raise PackError(problems)
    return Pack(
        id=pack.id,
        version=pack.version,
        jurisdiction=pack.jurisdiction,
        title_en=pack.title_en,
        title_zh=pack.title_zh,
        rules=tuple(replaced.get(rule.id, rule) for rule in pack.rules),
        source=pack.source,
        overlays=(*pack.overlays, f"{spec.overlay}.{spec.version}"),
    )


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)


def read_yaml_data(source: Path | str) -> tuple[object, _Document]:
    """Plain data and positions of any YAML file (golden cases use it); raises PackError."""
    doc = _read_yaml(source)
    if doc.problems:
        raise PackError(doc.problems)
    return doc.data, doc
