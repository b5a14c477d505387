"""revealed_values(): every secret a config names, found wherever it sits, for the masker."""
from pydantic import BaseModel

from bot.config.secrets import SecretRef, revealed_values
from bot.masking import Masker


class Header(BaseModel):
    value: SecretRef


class Action(BaseModel):
    env: dict[str, SecretRef] = {}
    headers: tuple[Header, ...] = ()
    token: SecretRef | None = None


class Config(BaseModel):
    actions: tuple[Action, ...] = ()


def test_every_set_secret_is_found_and_unset_ones_are_skipped(tmp_path):
    key = tmp_path / "key"
    key.write_text("file-secret-value\n")
    config = Config(actions=(
        Action(env={"A": SecretRef(secret="A_TOKEN"), "B": SecretRef(secret="UNSET")}),
        Action(headers=(Header(value=SecretRef(file=key)),), token=SecretRef(secret="C_TOKEN"))))
    values = revealed_values(config, {"A_TOKEN": "alpha-secret", "C_TOKEN": "gamma-secret"})
    assert values == ["alpha-secret", "file-secret-value", "gamma-secret"]
    assert Masker(values)("saw alpha-secret and file-secret-value") == "saw •••••• and ••••••"
