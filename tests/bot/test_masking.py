"""Secrets named by the config, and masking them (and credential-shaped text) wherever text is shown."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.secrets import SecretMissing, SecretRef
from bot.masking import MASK, Masker, mask


@pytest.mark.parametrize(("text", "hidden", "kept"), [
    ("Authorization: Bearer abcdefghijkl123", "abcdefghijkl123", "Authorization: Bearer "),
    ("password=hunter22 user=bob", "hunter22", "user=bob"),
    ('{"api_key": "sk_live_abc123", "n": 1}', "sk_live_abc123", '"n": 1'),
    ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "used"),
    ("X-Cron-Secret: s3cr3tvalue", "s3cr3tvalue", "X-Cron-Secret: "),
    ("apikey=eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.abcdefghij", "eyJhbGciOiJIUzI1NiJ9", "apikey="),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "MIIE", ""),
])
def test_credential_shapes_are_masked_and_their_key_kept(text: str, hidden: str, kept: str) -> None:
    out = mask(text)
    assert hidden not in out
    assert MASK in out
    assert kept in out


def test_configured_values_are_masked_whatever_their_shape() -> None:
    masker = Masker(["plain-looking-value", "ab"])        # too short to mask safely: left alone
    assert masker("got plain-looking-value twice: plain-looking-value") == f"got {MASK} twice: {MASK}"
    assert masker("ab cd") == "ab cd"


def test_ordinary_log_lines_are_left_alone() -> None:
    line = "2026-12-01T03:00:00Z ERROR author=bob request failed in 1200 ms (GET /health)"
    assert mask(line) == line


def test_a_secret_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert SecretRef(secret="API_KEY").reveal({"API_KEY": "v1"}) == "v1"
    path = tmp_path / "key"
    path.write_text("from-file\n")
    assert SecretRef(file=path).reveal() == "from-file"
    with pytest.raises(SecretMissing, match="environment variable API_KEY is not set"):
        SecretRef(secret="API_KEY").reveal({})
    with pytest.raises(SecretMissing, match="can't be read"):
        SecretRef(file=tmp_path / "absent").reveal()


@pytest.mark.parametrize("raw", [{}, {"secret": "A", "file": "/x"}, {"secret": "1BAD"}, {"value": "x"}])
def test_a_secret_reference_names_exactly_one_place(raw: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SecretRef.model_validate(raw)


def test_a_reference_never_shows_its_value() -> None:
    ref = SecretRef(secret="SUPABASE_ANON_KEY")
    assert str(ref) == "environment variable SUPABASE_ANON_KEY"
    assert "hidden" not in repr(ref)


def test_every_secret_the_config_names_is_found_and_only_readable_ones_revealed(tmp_path: Path) -> None:
    from bot.config import parse_config
    from bot.config.secrets import named_secrets, revealed_values

    key = tmp_path / "key"
    key.write_text("from-a-file\n")
    config = parse_config({"services": [
        {"name": "a", "logs": {"mask": [{"secret": "A_KEY"}, {"file": str(key)}, {"secret": "UNSET_KEY"}]}},
        {"name": "b", "logs": {"mask": [{"secret": "A_KEY"}]}}]})
    assert [str(ref) for ref in named_secrets(config)] == ["environment variable A_KEY", f"file {key}",
                                                           "environment variable UNSET_KEY"]
    assert revealed_values(config, {"A_KEY": "value-a"}) == ["value-a", "from-a-file"]


def test_a_template_naming_a_secret_is_left_whole() -> None:
    assert mask("apikey: {{secret.SUPABASE_ANON_KEY}}") == "apikey: {{secret.SUPABASE_ANON_KEY}}"
    assert mask('X-Cron-Secret: "{{secret.CRON}}"') == 'X-Cron-Secret: "{{secret.CRON}}"'
