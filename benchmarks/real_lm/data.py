"""The real-model tasks' data, generated here from templates (no download), and their metric.

Pure Python on purpose: the DSPy side of the benchmark imports this module from its own venv.

* ``sentiment``: one product review in, ``positive`` or ``negative`` out. Reviews mix a product,
  an opening, and two sentences; a third of them open against their label ("I expected to hate
  it, but ...") so the first words do not give the answer away.
* ``triage``: one customer message in, ``billing``, ``shipping`` or ``account`` out.
* ``lookup``: a question about one item of a small generated catalog (``CATALOG``, one document
  per item: its colour, the city it is made in, its price) in, one word out (``red``, ``lyon``,
  ``45``). A LlamaIndex query engine retrieves the item's document by keywords and answers.

Metrics (``METRICS``, what a user would write for each):

* ``sentiment`` and ``triage``: exact label after normalisation -- lower case, surrounding
  whitespace, quotes and final punctuation removed. That is what a user writes for a label task;
  a sentence that merely contains the label scores 0, so the answer format is part of the task.
* ``lookup``: the reply states the asked value and no other catalog value (``states_only``):
  "The answer is 49." and "The Calvo fan is red." score 1, "The lamp is made in Seville and
  costs 80 dollars." scores 0 for the price (it restates the whole record, so a program reading
  the answer cannot tell which value was asked). A tolerant parser, because the model answers
  a question in a sentence whatever the prompt (exact label: 0.00 for every prompt variant
  measured) and a user of a question-answering engine accepts a sentence.
"""

from __future__ import annotations

import random
import re
from typing import Any

PRODUCTS = ["blender", "headphones", "backpack", "kettle", "desk lamp", "phone case",
            "running shoes", "coffee grinder", "keyboard", "umbrella", "tent", "monitor"]  # fmt: skip
POSITIVE = ["It works perfectly and I use it every day.", "Great value, I would buy it again.",
            "The quality is excellent.", "Setup took two minutes and it has been flawless.",
            "My whole family loves it.", "It exceeded my expectations.",
            "Sturdy, quiet and well designed.", "Best purchase I made this year."]  # fmt: skip
NEGATIVE = ["It broke after two days.", "A total waste of money.",
            "The quality is terrible.", "It stopped working within a week.",
            "Customer service never answered my emails.", "It arrived scratched and smells bad.",
            "Flimsy, loud and badly designed.", "I returned it the same day."]  # fmt: skip
TWIST = {"positive": "I expected to hate this {p}, but I was wrong.",
         "negative": "I really wanted to love this {p}."}  # fmt: skip
PLAIN = {"positive": "I bought this {p} last month.", "negative": "I bought this {p} last month."}

TRIAGE = {
    "billing": ["I was charged twice for order {n}.", "Why is there a {m} fee on my invoice?",
                "Please refund the {m} you took from my card.", "My invoice {n} shows the wrong amount.",
                "I cancelled but you still billed me {m}."],
    "shipping": ["My parcel {n} has not arrived after two weeks.", "The courier left my package at the wrong address.",
                 "Tracking for order {n} has not moved since Monday.", "The box arrived crushed and late.",
                 "Can you send order {n} to my office instead?"],
    "account": ["I cannot log in, the password reset email never comes.", "Please change the email address on my profile.",
                "My account {n} was locked after three attempts.", "How do I delete my account?",
                "Two-factor codes are not accepted when I sign in."],
}  # fmt: skip
OPENERS = ["Hi,", "Hello team,", "Good morning.", "", "Hey there,"]
CLOSERS = ["Thanks.", "Please help.", "Regards, Sam", "", "This is urgent!"]

SPLITS = {"train": 60, "val": 30, "test": 100}
TASK_SPLITS = {"lookup": {"train": 30, "val": 15, "test": 30}}
"""Smaller splits where a run is slower (a retrieved context per call) or questions fewer."""

BRANDS = ["Zorvan", "Quillet", "Brenmo", "Tavisk", "Olvero", "Pemrick", "Sundal", "Vexa",
          "Marlow", "Ketura", "Dovian", "Falcro", "Yennet", "Harlix", "Ostrum", "Calvo",
          "Ardent", "Belmor", "Corvid", "Dunmere", "Elvast", "Fennick", "Gorsel", "Hollin",
          "Istra", "Jorvik", "Kellan", "Lumora", "Mirren", "Norvel", "Pashto", "Rendal"]  # fmt: skip
COLORS = ["red", "blue", "green", "black", "white", "yellow", "grey", "orange"]
CITIES = ["Lyon", "Porto", "Oslo", "Turin", "Ghent", "Krakow", "Bergen", "Seville"]
ITEMS = ["kettle", "lamp", "fan", "toaster", "backpack", "clock"]
QUESTIONS = {"color": "What color is the {item}?",
             "city": "In which city is the {item} made?",
             "price": "How many dollars does the {item} cost?"}  # fmt: skip


def catalog() -> list[dict[str, str]]:
    """The lookup task's documents: one generated item per brand, the same on every machine."""
    rng = random.Random("lookup-catalog")
    rows = []
    for brand in BRANDS:
        item = f"{brand} {rng.choice(ITEMS)}"
        color, city, price = rng.choice(COLORS), rng.choice(CITIES), str(rng.randint(12, 95))
        text = f"The {item} is {color}. It is made in {city} and costs {price} dollars."
        rows.append({"item": item, "color": color, "city": city.lower(), "price": price,
                     "text": text})  # fmt: skip
    return rows


def _lookup(rng: random.Random) -> dict[str, str]:
    row = rng.choice(catalog())
    attribute = rng.choice(sorted(QUESTIONS))
    return {"query": QUESTIONS[attribute].format(item=row["item"]), "label": row[attribute]}


def _sentiment(rng: random.Random) -> dict[str, str]:
    label = rng.choice(["positive", "negative"])
    product = rng.choice(PRODUCTS)
    opener = (TWIST if rng.random() < 0.35 else PLAIN)[label].format(p=product)
    body = rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2)
    return {"review": " ".join([opener, *body]), "label": label}


def _triage(rng: random.Random) -> dict[str, str]:
    label = rng.choice(sorted(TRIAGE))
    line = rng.choice(TRIAGE[label]).format(
        n=f"#{rng.randint(1000, 9999)}", m=f"${rng.randint(5, 99)}"
    )
    text = " ".join(x for x in (rng.choice(OPENERS), line, rng.choice(CLOSERS)) if x)
    return {"message": text, "label": label}


MAKERS = {"sentiment": _sentiment, "triage": _triage, "lookup": _lookup}
INPUT = {"sentiment": "review", "triage": "message", "lookup": "query"}
LABELS = {"sentiment": ("positive", "negative"), "triage": ("billing", "shipping", "account")}


def split(task: str, name: str) -> list[dict[str, str]]:
    """``SPLITS[name]`` (or ``TASK_SPLITS[task][name]``) examples of ``task``, distinct within
    and across splits; the same on every machine."""
    rng = random.Random(f"{task}-data")
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for part, size in TASK_SPLITS.get(task, SPLITS).items():
        rows = splits[part] = []
        while len(rows) < size:
            row = MAKERS[task](rng)
            if row[INPUT[task]] not in seen:
                seen.add(row[INPUT[task]])
                rows.append(row)
    return splits[name]


def normalise(text: Any) -> str:
    """Lower case; surrounding whitespace, quotes, asterisks and final punctuation removed."""
    return re.sub(r"^[\s\"'*`]+|[\s\"'*`.!,;:]+$", "", str(text).lower())


def exact_label(gold: str, prediction: Any) -> float:
    return float(normalise(prediction) == gold)


CATALOG_WORDS = frozenset(COLORS) | frozenset(c.lower() for c in CITIES)


def stated_values(text: Any) -> set[str]:
    """The catalog values (colours, cities, whole numbers) a reply mentions, lower case."""
    words = re.findall(r"[a-z]+|\d+", str(text).lower())
    return {w for w in words if w in CATALOG_WORDS or w.isdigit()}


def states_only(gold: str, prediction: Any) -> float:
    """1 when the reply mentions ``gold`` and no other colour, city or number."""
    return float(stated_values(prediction) == {gold})


METRICS = {"sentiment": exact_label, "triage": exact_label, "lookup": states_only}


def document_for(query: str) -> str:
    """The catalog document of the item named in ``query``: what the LlamaIndex engine's
    keyword retriever returns for every question of the three splits (checked when this was
    written), so the DSPy side, which has no LlamaIndex, answers from the same context."""
    (row,) = [r for r in catalog() if r["item"] in query]
    return row["text"]
