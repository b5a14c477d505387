"""Reply -> Slack Block Kit. Every Block Kit limit is enforced here, in one place, by truncating."""
from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks import Block as SlackBlock

from bot.reply import Block, Context, Divider, Header, Reply, Section, truncate

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTONS_PER_ACTIONS = 25
FALLBACK_TEXT = 3000


def _block(block: Block) -> SlackBlock:
    if isinstance(block, Header):
        return HeaderBlock(text=PlainTextObject(text=truncate(block.text, HEADER_TEXT)))
    if isinstance(block, Section):
        fields = [MarkdownTextObject(text=truncate(f, FIELD_TEXT)) for f in block.fields[:MAX_FIELDS]]
        return SectionBlock(text=MarkdownTextObject(text=truncate(block.text or " ", SECTION_TEXT)),
                            fields=fields or None)
    if isinstance(block, Context):
        return ContextBlock(elements=[MarkdownTextObject(text=truncate(block.text, SECTION_TEXT))])
    if isinstance(block, Divider):
        return DividerBlock()
    return ActionsBlock(elements=[
        ButtonElement(text=truncate(b.label, BUTTON_TEXT), action_id=b.action_id, value=truncate(b.value, 2000),
                      style=b.style.value or None)
        for b in block.buttons[:BUTTONS_PER_ACTIONS]
    ])


def to_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks = list(reply.blocks)
    if len(blocks) > MAX_BLOCKS:
        # Keep the head and the actions; say what was cut rather than failing the whole message.
        dropped = len(blocks) - (MAX_BLOCKS - 1)
        blocks = [*blocks[: MAX_BLOCKS - 2], Context(f"… {dropped} more block(s) not shown"), blocks[-1]]
    return [_block(b).to_dict() for b in blocks]


def to_message(reply: Reply) -> dict[str, Any]:
    """Keyword arguments for chat.postMessage / chat.update / a response_url post."""
    return {"text": truncate(reply.text, FALLBACK_TEXT), "blocks": to_blocks(reply)}
