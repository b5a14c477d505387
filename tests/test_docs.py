"""The docs stay true to the code: docs/configuration.md lists every key of ops.yaml and nothing else, the
README stays under 12 KB, and every relative link in README.md and docs/*.md reaches a file (and heading).

Key paths are walked from the pydantic models (`bot.config.OpsConfig`), in the notation docs/configuration.md
explains at its top: `a.b` nests, `a[]` is an item of a list, `a.<name>` is a key of a mapping you choose,
and `a[check=metric]` is an item of a list of checks whose discriminator `check` is `metric`.
"""
from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot.config import OpsConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
README_MAX_BYTES = 12 * 1024
PLACEHOLDERS = {"alerts.escalation": "<severity>"}     # a mapping's key as the docs write it; default `<name>`
DEFAULT_PLACEHOLDER = "<name>"

KEY_CELL = re.compile(r"`([^`\s]+)`")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)      # https:, mailto:, ...


# --- the keys the models accept ------------------------------------------------------------------------------

def config_keys(model: type[BaseModel] = OpsConfig, prefix: str = "") -> list[str]:
    """Every key path of `model`, parents before children, in field order."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        keys.append(path)
        own = field.discriminator if isinstance(field.discriminator, str) else None
        keys += _below(field.annotation, path, own)
    return keys


def _strip(tp: Any, discriminator: str | None = None) -> tuple[Any, str | None]:
    """`Annotated[T, ...]` -> T, keeping a discriminator found in its metadata."""
    while get_origin(tp) is Annotated:
        tp, *meta = get_args(tp)
        for item in meta:
            if discriminator is None and isinstance(item, FieldInfo) and isinstance(item.discriminator, str):
                discriminator = item.discriminator
    return tp, discriminator


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _below(tp: Any, path: str, discriminator: str | None = None) -> list[str]:
    """The key paths under `path` for a value of type `tp`."""
    tp, discriminator = _strip(tp, discriminator)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [m for m in (_strip(a)[0] for a in get_args(tp)) if m is not type(None)]
        models = [m for m in members if _is_model(m)]
        if len(models) > 1:
            return _tagged(models, path, discriminator)
        return [key for member in members for key in _below(member, path, discriminator)]
    if origin in (tuple, list, set, frozenset):
        return [key for arg in get_args(tp) if arg is not Ellipsis for key in _below(arg, f"{path}[]")]
    if origin is dict:
        return _below(get_args(tp)[1], f"{path}.{PLACEHOLDERS.get(path, DEFAULT_PLACEHOLDER)}")
    if _is_model(tp):
        return config_keys(tp, path)
    return []


def _tagged(models: list[type[BaseModel]], path: str, discriminator: str | None) -> list[str]:
    """A discriminated union: the discriminator once, then each member as `path[disc=tag]` with its own keys."""
    assert discriminator is not None, f"{path}: a union of models without a discriminator; give it a notation here"
    keys = [f"{path}.{discriminator}"]
    for model in models:
        tag = get_args(_strip(model.model_fields[discriminator].annotation)[0])[0]
        member = f"{path.removesuffix('[]')}[{discriminator}={tag}]"
        keys.append(member)
        keys += [k for k in config_keys(model, member) if k != f"{member}.{discriminator}"]
    return keys


# --- what the docs say ---------------------------------------------------------------------------------------

def _outside_code(markdown: str) -> str:
    return FENCE.sub("", markdown)


def documented_keys(markdown: str) -> list[str]:
    """The first cell of every row of every table whose first column is headed `Key`."""
    keys: list[str] = []
    header: list[str] | None = None
    for line in _outside_code(markdown).splitlines():
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]
        if header is None:
            header = cells
            continue
        if header[0] != "Key" or set(cells[0]) <= set("-: "):
            continue
        match = KEY_CELL.fullmatch(cells[0])
        assert match, f"docs/configuration.md: a Key cell holds one key path in backticks, not {cells[0]!r}"
        keys.append(match.group(1))
    return keys


def test_the_walk_sees_aliases_mappings_lists_and_each_kind_of_check() -> None:
    keys = set(config_keys())
    assert {"services[].lambda.function", "integrations.aws.region", "alerts.escalation.<severity>.steps[].after",
            "checklists.<name>.checks[].check", "checklists.<name>.checks[check=kubernetes_nodes]",
            "checklists.<name>.checks[check=metric].stat", "oncall.rotations[].start"} <= keys
    assert "services[].lambda_" not in keys
    assert "checklists.<name>.checks[check=metric].check" not in keys


def test_every_config_key_is_documented_once_and_no_other() -> None:
    documented = documented_keys(CONFIGURATION.read_text(encoding="utf-8"))
    repeated = sorted({k for k in documented if documented.count(k) > 1})
    missing = [k for k in config_keys() if k not in documented]
    unknown = sorted(set(documented) - set(config_keys()))
    assert not missing, f"in the config models but not in docs/configuration.md: {missing}"
    assert not unknown, f"in docs/configuration.md but not in the config models: {unknown}"
    assert not repeated, f"documented more than once in docs/configuration.md: {repeated}"


def test_readme_is_at_most_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes, over {README_MAX_BYTES}: move detail to docs/"


# --- links ---------------------------------------------------------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(_outside_code(path.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(markdown: str) -> list[str]:
    text = INLINE_CODE.sub("", _outside_code(markdown))
    return LINK.findall(text) + REFERENCE.findall(text)


MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target} (no heading #{fragment} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_the_docs_exist_and_the_readme_links_each() -> None:
    readme = README.read_text(encoding="utf-8")
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert {"configuration.md", "alerts.md", "checklists.md", "deploy.md", "architecture.md",
            "development.md"} <= set(pages)
    assert not [p for p in pages if f"docs/{p}" not in readme], "link every page of docs/ from README.md"
