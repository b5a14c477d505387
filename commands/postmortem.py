"""/ops incident note and /ops incident postmortem: the free-form lines of an incident's timeline, and the
Markdown postmortem written from its record (bot.incidents.postmortem).

The postmortem goes back as a file (the transport uploads the reply's attachment: Slack into the channel, or the
clicked card's thread for the *Write postmortem* button; the console into a file) and into every store
`incidents.postmortems` configures (a directory, an S3 bucket). A store that fails is named in the answer; the
others, and the file, still go out.
"""
from __future__ import annotations

from bot.errors import UsageError
from bot.incidents import NOTE_MAX
from bot.incidents import card as incident_card
from bot.incidents.postmortem_doc import render
from bot.reply import Attachment, Reply, Section, code, escape, truncate
from commands.base import CommandContext, parse_id
from integrations.base import AdapterError

NOTE_USAGE = "/ops incident note <id> <text>"
USAGE = "/ops incident postmortem <id>"
NOTE_SHOWN = 500                # of a note, in the answer (the timeline keeps all of it)


def note(ctx: CommandContext, args: list[str]) -> Reply:
    """args: the incident number, then the note as typed (commands.incident.split keeps it whole)."""
    incident_id = _incident_id(args[:1], NOTE_USAGE)
    text = args[1].strip() if len(args) > 1 else ""
    if not text:
        raise UsageError(f"Write the note after the incident's number: `/ops incident note {incident_id} "
                         "restarted the primary, errors stopped`.", usage=NOTE_USAGE)
    if len(text) > NOTE_MAX:
        raise UsageError(f"The note is {len(text):,} characters; keep it under {NOTE_MAX:,}.", usage=NOTE_USAGE)
    record = ctx.rt.incidents.note(incident_id=incident_id, user=ctx.user_id, text=text)
    said = f":memo: <@{ctx.user_id}> added a note to incident #{record.id}'s timeline: " \
           f"{truncate(escape(text), NOTE_SHOWN)}"
    return Reply(text=said, blocks=(Section(said),), ephemeral=False,
                 redraw=(incident_card.card(record, now=ctx.rt.clock()),))


def write(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) > 1:
        raise UsageError("Too many arguments.", usage=USAGE)
    incident_id = _incident_id(args, USAGE)
    doc = render(ctx.rt.postmortems.gather(incident_id), written_by=ctx.user_id, zone=ctx.rt.config.timezone)
    saved, failed = [], []
    for store in ctx.rt.integrations.postmortem_stores:
        try:
            saved.append(store.put(doc.filename, doc.markdown))
        except AdapterError as exc:
            failed.append(str(exc))
    record = ctx.rt.postmortems.written(incident_id=incident_id, user=ctx.user_id,
                                        where=", ".join(saved) or "uploaded to Slack")
    said = (f":page_facing_up: <@{ctx.user_id}> wrote the postmortem of incident #{record.id}: "
            f"{doc.entries} timeline entries, MTTA {doc.mtta}, MTTR {doc.mttr}.")
    if record.status != "resolved":
        said += f" The incident is still {record.status}: this is a draft; write it again once it is resolved."
    if saved:
        said += " Saved to " + ", ".join(code(where, 200) for where in saved) + "."
    if failed:
        said += " :warning: Not saved: " + "; ".join(escape(why) for why in failed) + "."
    title = f"Postmortem of incident #{record.id}: {record.title}"
    return Reply(
        text=said, blocks=(Section(said),), ephemeral=False,
        detail=("saved: " + ", ".join(saved) if saved else "no store configured" if not failed else "")
        + ("; failed: " + "; ".join(failed) if failed else ""),
        redraw=(incident_card.card(record, now=ctx.rt.clock()),),
        attachment=Attachment(filename=doc.filename, title=title[:250], content=doc.markdown,
                              label="The postmortem",
                              if_not_sent="Type the command again in a minute, or read it where it was saved."),
    )


def _incident_id(args: list[str], usage: str) -> int:
    if not args:
        raise UsageError("Which incident? Give its number.", usage=usage)
    incident_id = parse_id(args[0])
    if incident_id is None:
        raise UsageError(f"{code(args[0], 20)} is not an incident number.", usage=usage)
    return incident_id
