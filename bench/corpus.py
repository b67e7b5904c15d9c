"""A deterministic set of realistic complaint emails for load runs.

The mix follows what the enquiries mailbox sees: mostly plain text (about 1-3 KB), some
HTML mail from webmail and phones (multipart/alternative, 8-20 KB), and some with a PDF or
photo attached (100-400 KB once encoded). Every message has its own Message-ID, so none is
a duplicate delivery, and its text varies (provider, URN, aspects) so the classifier and
the link proposals do real work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

PROVIDERS = ("Hillside Primary", "St Mary's C of E Primary", "Oakfield Academy",
             "Little Acorns Nursery", "Riverside Children's Home", "Northgate High School",
             "Brookfield Infant School", "Meadow View Pre-School", "Castle Hill College",
             "Greenway Junior School")
OPENINGS = (
    "I am writing to complain about the inspection of {provider} (URN {urn}) on {date}.",
    "I am the headteacher of {provider}, URN {urn}. We were inspected on {date}.",
    "As the registered manager of {provider} (URN {urn}) I wish to raise a formal "
    "complaint about our inspection on {date}.",
    "Please treat this as a complaint about the conduct of the inspection at {provider}, "
    "URN {urn}, which took place on {date}.",
)
CONCERNS = (
    "The lead inspector was dismissive of my staff and interrupted them repeatedly.",
    "The inspection team did not look at the evidence we provided about reading and "
    "phonics, and the report does not reflect it.",
    "The judgement on leadership and management is not supported by the evidence base.",
    "An inspector spoke to a pupil without a member of staff present, which upset the "
    "child's parents.",
    "The report contains factual errors about our pupil numbers and our SEND provision.",
    "The feedback meeting at the end of the second day contradicted what we were told on "
    "the first day.",
    "We were given no opportunity to show our curriculum planning for the early years.",
    "The inspector arrived two hours late and then cut the time for our safeguarding "
    "discussion in half.",
)
OUTCOMES = (
    "I would like the judgement to be reviewed.",
    "I want an apology and the report to be corrected before publication.",
    "I ask that the report is not published until this complaint has been considered.",
    "I would like the inspector's conduct to be looked into.",
)
CLOSINGS = (
    "I raised this with the lead inspector on the day but it was not resolved.",
    "I am available on weekday mornings on 0161 496 0{n:03d}.",
    "Our chair of governors supports this complaint.",
)


@dataclass(frozen=True)
class Sample:
    message_id: str
    kind: str  # "plain", "html" or "attachment"
    raw: bytes


def _text(rng: random.Random, provider: str, urn: str, n: int) -> str:
    day = datetime(2026, 10, 1) + timedelta(days=rng.randrange(40))
    parts = [rng.choice(OPENINGS).format(provider=provider, urn=urn,
                                         date=day.strftime("%-d %B %Y"))]
    parts += rng.sample(CONCERNS, rng.randint(2, 5))
    parts.append(rng.choice(OUTCOMES))
    parts.append(rng.choice(CLOSINGS).format(n=n % 1000))
    paragraphs = ["Dear Ofsted,"] + [" ".join(parts[i:i + 2]) for i in range(0, len(parts), 2)]
    return "\n\n".join(paragraphs) + f"\n\nYours faithfully,\n\nSam Taylor {n}\nHeadteacher\n"


def _html(text: str, rng: random.Random) -> str:
    style = "font-family: Arial, sans-serif; font-size: 11pt; color: #222222;"
    paras = "".join(f'<p style="{style}">{p.replace(chr(10), "<br>")}</p>\n'
                    for p in text.split("\n\n"))
    # Webmail wraps the body in layout tables and signatures that dwarf the text.
    padding = "".join(f'<div class="gmail_signature" data-x="{rng.random():.12f}">'
                      f'<span style="{style}">&nbsp;</span></div>\n'
                      for _ in range(rng.randint(40, 120)))
    return f"<html><head><meta charset='utf-8'></head><body>{paras}{padding}</body></html>"


def _attachment(rng: random.Random) -> tuple[bytes, str, str, str]:
    size = rng.randint(70_000, 300_000)
    body = rng.randbytes(size)
    if rng.random() < 0.5:
        return b"%PDF-1.7\n" + body, "application", "pdf", "evidence.pdf"
    return b"\xff\xd8\xff\xe0" + body, "image", "jpeg", "photo.jpg"


def make_message(rng: random.Random, n: int, tag: str, kind: str,
                 mailbox: str) -> Sample:
    provider = rng.choice(PROVIDERS)
    urn = str(100000 + rng.randrange(900000))
    text = _text(rng, provider, urn, n)
    msg = EmailMessage()
    msg["From"] = f"Sam Taylor <head{n}@school{n % 97}.example>"
    msg["To"] = mailbox
    msg["Subject"] = f"Complaint about the inspection of {provider}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"{tag}-{n}@bench.example"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(text)
    if kind == "html":
        msg.add_alternative(_html(text, rng), subtype="html")
    elif kind == "attachment":
        data, maintype, subtype, name = _attachment(rng)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return Sample(message_id, kind, msg.as_bytes())


def make_messages(count: int, *, seed: int = 6, tag: str = "bench",
                  mailbox: str = "enquiries@example.org") -> list[Sample]:
    """``count`` messages: 55 % plain, 30 % HTML, 15 % with an attachment."""
    rng = random.Random(seed)
    kinds = ["plain"] * 11 + ["html"] * 6 + ["attachment"] * 3
    return [make_message(rng, n, tag, kinds[n % len(kinds)], mailbox) for n in range(count)]
