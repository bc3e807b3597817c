"""Generate the bundled data of ``mipro_core.testing`` (run once; the output is committed).

Writes ``rule_qa.json``, ``multihop_qa.json`` and ``scone_nli.json`` in ``mipro_core/testing/data/``.
Everything is fictional and derived from one seeded :class:`random.Random`, so running the
script again reproduces the files byte for byte::

    python benchmarks/make_sim_data.py            # rewrite the files
    python benchmarks/make_sim_data.py --check    # exit 1 if the files differ from a fresh run

Two disjoint pools of fictional entities are made: a "well-known" pool whose facts the simulated
model knows (``rule_qa``, closed-book questions) and an "obscure" pool whose facts only exist in
the bundled corpus (``multihop_qa``, two-hop retrieval questions).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

SEED = 2406_11695
DATA_DIR = Path(__file__).resolve().parent.parent / "mipro_core" / "testing" / "data"
FORMAT_VERSION = 1

ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s"]
ONSETS += ["st", "t", "th", "v", "w", "z", "c", "sk"]
NUCLEI = ["a", "e", "i", "o", "u", "ae", "ai", "ea", "ia", "ou", "y"]
CODAS = ["", "", "", "l", "n", "r", "s", "th", "m", "nd", "rk", "sk", "x"]
# Words that a generated name must never be (they are cue words of the simulated model or
# ordinary English that would confuse readers).
BLOCKED = {
    "who",
    "date",
    "day",
    "place",
    "city",
    "town",
    "name",
    "other",
    "rest",
    "iso",
    "caps",
    "case",
    "lower",
    "upper",
    "the",
    "and",
    "for",
    "was",
    "born",
    "wrote",
    "new",
    "were",
    "many",
    "much",
    "bit",
    "ban",
    "bad",
    "sex",
    "die",
    "dead",
    "kill",
    "war",
    "gun",
    "nazi",
}
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ORG_SUFFIXES = ["Guild", "Society", "League", "Circle", "Institute", "Trust", "Union", "Works"]
ORG_SUFFIXES += ["Collective", "Foundation", "Academy", "Brotherhood", "Assembly", "Syndicate"]
BUILDING_SUFFIXES = ["Tower", "Hall", "Bridge", "Library", "Observatory", "Lighthouse", "Theatre"]
BUILDING_SUFFIXES += ["Market", "Archive", "Gatehouse", "Conservatory", "Arsenal"]
BOOK_ADJ = [
    "Silver",
    "Hollow",
    "Quiet",
    "Crimson",
    "Seventh",
    "Northern",
    "Broken",
    "Gilded",
    "Distant",
    "Iron",
    "Amber",
    "Pale",
    "Burning",
    "Sunken",
    "Wandering",
    "Hidden",
    "Last",
    "Winter",
    "Copper",
    "Emerald",
    "Salt",
    "Velvet",
    "Forgotten",
    "Restless",
]
BOOK_NOUN = [
    "Heron",
    "Lantern",
    "Orchard",
    "Tide",
    "Compass",
    "Harbor",
    "Mirror",
    "Garden",
    "River",
    "Crown",
    "Meadow",
    "Falcon",
    "Anchor",
    "Ember",
    "Voyage",
    "Chorus",
    "Tapestry",
    "Horizon",
    "Cartographer",
    "Bell",
    "Labyrinth",
    "Sparrow",
    "Lighthouse",
    "Feather",
]
SHIP_ADJ = ["Swift", "Bold", "Grey", "Golden", "Red", "Lucky", "Proud", "Silent", "Bright"]
SHIP_NOUN = ["Gull", "Otter", "Marlin", "Petrel", "Kestrel", "Dolphin", "Wren", "Cormorant"]
OCCUPATIONS = [
    "cartographer",
    "shipwright",
    "astronomer",
    "glassblower",
    "botanist",
    "clockmaker",
    "printer",
    "engraver",
    "surveyor",
    "weaver",
    "apothecary",
    "bookbinder",
    "luthier",
    "stonemason",
    "navigator",
    "archivist",
]


class NameMaker:
    """Unique fictional words built from syllables (never repeats a word across pools)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def word(self, syllables: int) -> str:
        while True:
            text = "".join(
                self.rng.choice(ONSETS) + self.rng.choice(NUCLEI) + self.rng.choice(CODAS)
                for _ in range(syllables)
            )
            if len(text) < 4 or len(text) > 10 or text in BLOCKED or text in self.used:
                continue
            self.used.add(text)
            return text.capitalize()

    def person(self) -> str:
        return f"{self.word(2)} {self.word(2)}"


def pick(rng: random.Random, pool: list[str], used: set[str]) -> str:
    while True:
        item = rng.choice(pool)
        if item not in used:
            used.add(item)
            return item


def make_titles(
    rng: random.Random, n: int, adj: list[str], noun: list[str], article: bool
) -> list[str]:
    combos = [f"{a} {b}" for a in adj for b in noun]
    rng.shuffle(combos)
    titles = combos[:n]
    return [f"The {t}" for t in titles] if article else titles


def full_date(rng: random.Random, lo: int, hi: int) -> tuple[int, int, int]:
    return rng.randint(lo, hi), rng.randint(1, 12), rng.randint(1, 28)


def plain_date(date: tuple[int, int, int]) -> str:
    year, month, day = date
    return f"{day} {MONTHS[month - 1]} {year}"


def iso_date(date: tuple[int, int, int]) -> str:
    year, month, day = date
    return f"{year:04d}-{month:02d}-{day:02d}"


def strip_punct(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch.isspace()).strip()


# ----------------------------------------------------------------------------- rule_qa


def formatted(category: str, plain: str, date: tuple[int, int, int] | None = None) -> str:
    """The gold answer: the plain answer with the task's hidden rule for its category applied."""
    if category == "person":
        return plain.lower()
    if category == "place":
        return " ".join(strip_punct(plain).split())
    if category == "date":
        assert date is not None
        return iso_date(date)
    if category == "other":
        return plain.upper()
    return plain  # number: no rule


def make_rule_qa(rng: random.Random, names: NameMaker) -> dict[str, Any]:
    countries = [names.word(2) + rng.choice(["land", "ia", "mark", "or", "ea"]) for _ in range(12)]
    cities = []
    for i in range(70):
        base = names.word(rng.choice([2, 3]))
        city = f"Port {base}" if i % 7 == 0 else (f"{base} Bay" if i % 11 == 0 else base)
        cities.append((city, rng.choice(countries)))
    persons = [names.person() for _ in range(220)]
    orgs = [f"{names.word(2)} {rng.choice(ORG_SUFFIXES)}" for _ in range(150)]
    books = make_titles(rng, 150, BOOK_ADJ, BOOK_NOUN, article=True)
    ships = make_titles(rng, 70, SHIP_ADJ, SHIP_NOUN, article=False)
    buildings = [f"{names.word(2)} {rng.choice(BUILDING_SUFFIXES)}" for _ in range(80)]

    items: list[dict[str, Any]] = []

    def add(
        question: str, category: str, plain: str, date: tuple[int, int, int] | None = None
    ) -> None:
        items.append(
            {
                "question": question,
                "category": category,
                "plain_answer": plain,
                "answer": formatted(category, plain, date),
            }
        )

    birth = {p: full_date(rng, 1700, 1860) for p in persons}
    birthplace = {p: rng.choice(cities) for p in persons}
    for p in persons:
        city, country = birthplace[p]
        add(f"Where was {p} born?", "place", f"{city}, {country}")
        add(f"When was {p} born?", "date", plain_date(birth[p]), birth[p])
    founders_used: set[str] = set()
    for org in orgs:
        founder = pick(rng, persons, founders_used)
        founded = full_date(rng, 1720, 1890)
        city, country = rng.choice(cities)
        add(f"Who founded the {org}?", "person", founder)
        add(f"Which organization did {founder} found?", "other", org)
        add(f"When was the {org} founded?", "date", plain_date(founded), founded)
        add(f"Where is the {org} based?", "place", f"{city}, {country}")
        add(
            f"How many members did the {org} have at its founding?",
            "number",
            str(rng.randint(12, 400)),
        )
    authors_used: set[str] = set()
    for book in books:
        author = pick(rng, persons, authors_used)
        published = full_date(rng, 1740, 1899)
        add(f"Who wrote {book}?", "person", author)
        add(f"What book did {author} write?", "other", book)
        add(f"When was {book} first published?", "date", plain_date(published), published)
        add(f"How many chapters does {book} have?", "number", str(rng.randint(8, 60)))
    captains_used: set[str] = set()
    for ship in ships:
        captain = pick(rng, persons, captains_used)
        add(f"What was the name of the ship commanded by {captain}?", "other", f"The {ship}")
    designers_used: set[str] = set()
    for building in buildings:
        designer = pick(rng, persons, designers_used)
        add(f"Who designed the {building}?", "person", designer)

    quotas = {"person": 125, "place": 100, "date": 100, "other": 100, "number": 75}
    by_cat: dict[str, list[dict[str, Any]]] = {c: [] for c in quotas}
    for item in items:
        by_cat[item["category"]].append(item)
    chosen: list[dict[str, Any]] = []
    for cat, quota in quotas.items():
        pool = by_cat[cat]
        rng.shuffle(pool)
        chosen.extend(pool[:quota])
    splits = stratified_split(rng, chosen, "category", (150, 150, 200))
    return {
        "format_version": FORMAT_VERSION,
        "task": "rule_qa",
        "description": (
            "Closed-book questions about a fictional world whose answers follow hidden "
            "formatting rules by answer type."
        ),
        "rules": {
            "person": "answers that are people's names are written in lowercase",
            "place": "place answers ('City, Country') are written without punctuation",
            "date": "dates are written in ISO format YYYY-MM-DD",
            "other": "all other answers (organizations, books, ships) are written in ALL CAPS",
            "number": "(no rule) numbers are written as digits",
        },
        **splits,
    }


# ----------------------------------------------------------------------------- multihop_qa


def make_multihop(rng: random.Random, names: NameMaker) -> dict[str, Any]:
    cities = [names.word(rng.choice([2, 3])) for _ in range(60)]
    persons = [names.person() for _ in range(420)]
    orgs = [f"{names.word(2)} {rng.choice(ORG_SUFFIXES)}" for _ in range(160)]
    books = [
        f"The {a} {b}"
        for a, b in zip(
            rng.sample([names.word(2) for _ in range(160)], 160),
            [rng.choice(BOOK_NOUN) for _ in range(160)],
            strict=True,
        )
    ]
    buildings = [f"{names.word(2)} {rng.choice(BUILDING_SUFFIXES)}" for _ in range(110)]

    person_info: dict[str, dict[str, Any]] = {}
    for p in persons:
        person_info[p] = {
            "city": rng.choice(cities),
            "year": rng.randint(1700, 1860),
            "occupation": rng.choice(OCCUPATIONS),
            "employer": rng.choice(orgs),
        }
    org_info: dict[str, dict[str, Any]] = {}
    founders_used: set[str] = set()
    for org in orgs:
        founder = pick(rng, persons, founders_used)
        member = rng.choice([p for p in persons if p != founder])
        org_info[org] = {
            "city": rng.choice(cities),
            "year": rng.randint(1720, 1890),
            "founder": founder,
            "member": member,
        }
    book_info: dict[str, dict[str, Any]] = {}
    authors_used: set[str] = set()
    for book in books:
        author = pick(rng, persons, authors_used)
        book_info[book] = {
            "author": author,
            "publisher": rng.choice(orgs),
            "year": rng.randint(1740, 1899),
            "editor": rng.choice([p for p in persons if p != author]),
        }
    building_info: dict[str, dict[str, Any]] = {}
    architects_used: set[str] = set()
    for building in buildings:
        architect = pick(rng, persons, architects_used)
        building_info[building] = {
            "architect": architect,
            "city": rng.choice(cities),
            "restorer": rng.choice([p for p in persons if p != architect]),
        }

    def person_born(p: str) -> str:
        return f"{p} was born in {person_info[p]['city']} in {person_info[p]['year']}."

    def person_work(p: str) -> str:
        info = person_info[p]
        return f"{p} worked as a {info['occupation']} for the {info['employer']}."

    def org_based(o: str) -> str:
        return f"The {o} is based in {org_info[o]['city']}."

    def org_founded(o: str) -> str:
        return f"The {o} was founded in {org_info[o]['year']} by {org_info[o]['founder']}."

    def book_author(b: str) -> str:
        return f"{b} is a book written by {book_info[b]['author']}."

    def book_publisher(b: str) -> str:
        return f"{b} was published by the {book_info[b]['publisher']} in {book_info[b]['year']}."

    def building_architect(d: str) -> str:
        return f"The {d} was designed by {building_info[d]['architect']}."

    corpus: list[str] = []
    for p in persons:
        corpus.append(f"{person_born(p)} {person_work(p)}")
    for o in orgs:
        info = org_info[o]
        corpus.append(
            f"{org_based(o)} {org_founded(o)} Its best-known member was {info['member']}."
        )
    for b in books:
        info = book_info[b]
        corpus.append(
            f"{book_author(b)} {book_publisher(b)} Its first editor was {info['editor']}."
        )
    for d in buildings:
        info = building_info[d]
        corpus.append(
            f"The {d} stands in {info['city']}. {building_architect(d)} "
            f"It was restored by {info['restorer']}."
        )
    rng.shuffle(corpus)

    items: list[dict[str, Any]] = []

    def add(**item: Any) -> None:
        items.append(item)

    for o in orgs:
        f = org_info[o]["founder"]
        add(
            template="founder_birthplace",
            question=f"In which city was the founder of the {o} born?",
            answer=person_info[f]["city"],
            answer_category="place",
            hop1_entity=o,
            hop1_hint="founder",
            hop1_fact=org_founded(o),
            bridge=f,
            bridge_hint="born",
            bridge_fact=person_born(f),
            distractor=org_info[o]["member"],
        )
        add(
            template="founder_occupation",
            question=f"What was the occupation of the founder of the {o}?",
            answer=person_info[f]["occupation"],
            answer_category="other",
            hop1_entity=o,
            hop1_hint="founder",
            hop1_fact=org_founded(o),
            bridge=f,
            bridge_hint="worked",
            bridge_fact=person_work(f),
            distractor=org_info[o]["member"],
        )
    for b in books:
        info = book_info[b]
        a, pub = info["author"], info["publisher"]
        add(
            template="author_birth_year",
            question=f"In what year was the author of {b} born?",
            answer=str(person_info[a]["year"]),
            answer_category="number",
            hop1_entity=b,
            hop1_hint="author",
            hop1_fact=book_author(b),
            bridge=a,
            bridge_hint="born",
            bridge_fact=person_born(a),
            distractor=info["editor"],
        )
        add(
            template="publisher_city",
            question=f"In which city is the publisher of {b} based?",
            answer=org_info[pub]["city"],
            answer_category="place",
            hop1_entity=b,
            hop1_hint="publisher",
            hop1_fact=book_publisher(b),
            bridge=pub,
            bridge_hint="based",
            bridge_fact=org_based(pub),
            distractor=info["editor"],
        )
        add(
            template="publisher_founder",
            question=f"Who founded the organization that published {b}?",
            answer=org_info[pub]["founder"],
            answer_category="person",
            hop1_entity=b,
            hop1_hint="publisher",
            hop1_fact=book_publisher(b),
            bridge=pub,
            bridge_hint="founded",
            bridge_fact=org_founded(pub),
            distractor=info["editor"],
        )
    for d in buildings:
        arch = building_info[d]["architect"]
        add(
            template="architect_employer",
            question=f"Which organization employed the architect of the {d}?",
            answer=person_info[arch]["employer"],
            answer_category="other",
            hop1_entity=d,
            hop1_hint="architect",
            hop1_fact=building_architect(d),
            bridge=arch,
            bridge_hint="worked",
            bridge_fact=person_work(arch),
            distractor=building_info[d]["restorer"],
        )

    # A publisher founds many books' questions: keep each question text unique.
    seen: set[str] = set()
    unique = []
    for item in items:
        if item["question"] not in seen:
            seen.add(item["question"])
            unique.append(item)
    rng.shuffle(unique)
    chosen = unique[:500]
    splits = stratified_split(rng, chosen, "template", (150, 150, 200))
    return {
        "format_version": FORMAT_VERSION,
        "task": "multihop_qa",
        "description": (
            "Two-hop questions about obscure fictional entities; the facts exist only in the "
            "bundled corpus, so the program must retrieve twice (entity, then bridge entity)."
        ),
        "corpus": corpus,
        **splits,
    }


# ----------------------------------------------------------------------------- scone_nli

SCONE_SEED = 2305_19426  # its own generator, so the other two files never change
# (specific word, more general word): the premise and the conclusion differ in exactly this word.
SCONE_PAIRS = [
    ("spaniel", "dog"),
    ("poodle", "dog"),
    ("sparrow", "bird"),
    ("heron", "bird"),
    ("trout", "fish"),
    ("salmon", "fish"),
    ("tulip", "flower"),
    ("daisy", "flower"),
    ("oak", "tree"),
    ("maple", "tree"),
    ("violin", "instrument"),
    ("flute", "instrument"),
    ("sedan", "car"),
    ("canoe", "boat"),
    ("kitten", "cat"),
    ("mare", "horse"),
    ("pear", "fruit"),
    ("plum", "fruit"),
    ("carrot", "vegetable"),
    ("onion", "vegetable"),
    ("hammer", "tool"),
    ("wrench", "tool"),
    ("sweater", "garment"),
    ("teapot", "pot"),
]
SCONE_VERBS = [("saw", "see"), ("painted", "paint"), ("bought", "buy"), ("found", "find")]
SCONE_VERBS += [("photographed", "photograph"), ("sketched", "sketch"), ("sold", "sell")]
SCONE_ADJS = ["tired", "hungry", "famous", "busy", "young", "tall", "rich", "local"]
# category -> (negations in the premise, does a negation cover the changed word?)
SCONE_FLIPS = {"no_negation": False, "not_scoped": False, "scoped": True, "double": False}
SCONE_MIX = {  # share of each category per split: train is dominated by the easy cases
    "train": {"no_negation": 0.60, "not_scoped": 0.20, "scoped": 0.10, "double": 0.10},
    "val": {"no_negation": 0.20, "not_scoped": 0.20, "scoped": 0.45, "double": 0.15},
    "test": {"no_negation": 0.20, "not_scoped": 0.20, "scoped": 0.45, "double": 0.15},
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def scone_sentence(category: str, name: str, verb: tuple[str, str], adj: str, noun: str) -> str:
    thing = f"{_article(noun)} {noun}"
    if category == "no_negation":
        return f"{name} {verb[0]} {thing}."
    if category == "not_scoped":
        return f"{name}, who was not {adj}, {verb[0]} {thing}."
    if category == "scoped":
        return f"{name} did not {verb[1]} {thing}."
    return f"It is not true that {name} did not {verb[1]} {thing}."


def make_scone(rng: random.Random, names: NameMaker) -> dict[str, Any]:
    """ScoNe-like NLI: premise and conclusion differ in one word (specific vs more general).

    Ignoring negation, the answer is "yes" when the conclusion uses the more general word (the
    *surface* answer). A negation that covers the changed word reverses it (``scoped``); one
    that does not (``not_scoped``) or two that cancel (``double``) leave it unchanged.
    """
    people = [names.word(2) for _ in range(120)]
    sizes = {"train": 150, "val": 150, "test": 200}
    seen: set[str] = set()
    splits: dict[str, list[dict[str, Any]]] = {}
    for split, size in sizes.items():
        quotas = {c: round(share * size) for c, share in SCONE_MIX[split].items()}
        quotas["no_negation"] += size - sum(quotas.values())
        items: list[dict[str, Any]] = []
        for category, quota in quotas.items():
            made = 0
            while made < quota:
                specific, general = rng.choice(SCONE_PAIRS)
                up = rng.random() < 0.5  # conclusion uses the more general word
                first, second = (specific, general) if up else (general, specific)
                name, verb, adj = (
                    rng.choice(people),
                    rng.choice(SCONE_VERBS),
                    rng.choice(SCONE_ADJS),
                )
                premise = scone_sentence(category, name, verb, adj, first)
                conclusion = scone_sentence(category, name, verb, adj, second)
                conclusion = conclusion[:-1].replace("It is", "it is", 1)
                question = f"Premise: {premise} Can we logically conclude that {conclusion}?"
                if question in seen:
                    continue
                seen.add(question)
                surface = "yes" if up else "no"
                flipped = {"yes": "no", "no": "yes"}[surface]
                answer = flipped if SCONE_FLIPS[category] else surface
                items.append(
                    {
                        "question": question,
                        "answer": answer,
                        "category": category,
                        "surface": surface,
                    }
                )
                made += 1
        rng.shuffle(items)
        splits[split] = items
    return {
        "format_version": FORMAT_VERSION,
        "task": "scone_nli",
        "description": (
            "Yes/no questions on whether a conclusion follows from a one-sentence premise that "
            "differs in one word; negations that cover that word reverse the answer. The "
            "training split is dominated by sentences without negation."
        ),
        "rules": {
            "no_negation": "yes iff the conclusion uses the more general word",
            "not_scoped": "a negation that does not cover the changed word changes nothing",
            "scoped": "a negation covering the changed word reverses the answer",
            "double": "two negations covering the changed word cancel out",
        },
        **splits,
    }


def stratified_split(
    rng: random.Random, items: list[dict[str, Any]], key: str, sizes: tuple[int, int, int]
) -> dict[str, list[dict[str, Any]]]:
    """Split items so every split has (nearly) the same mix of ``key`` values."""
    total = sum(sizes)
    assert len(items) == total, (len(items), total)
    names = ("train", "val", "test")
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    leftovers: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item[key], []).append(item)
    for k in sorted(groups):
        group = groups[k]
        rng.shuffle(group)
        start = 0
        for name, size in zip(names, sizes, strict=True):
            quota = len(group) * size // total
            out[name].extend(group[start : start + quota])
            start += quota
        leftovers.extend(group[start:])
    rng.shuffle(leftovers)
    for name, size in zip(names, sizes, strict=True):
        while len(out[name]) < size:
            out[name].append(leftovers.pop())
    for name in names:
        rng.shuffle(out[name])
    return out


def build() -> dict[str, str]:
    rng = random.Random(SEED)
    names = NameMaker(rng)
    rule = make_rule_qa(rng, names)
    multi = make_multihop(rng, names)
    scone_rng = random.Random(SCONE_SEED)
    scone = make_scone(scone_rng, NameMaker(scone_rng))
    return {
        "rule_qa.json": json.dumps(rule, indent=1, ensure_ascii=False) + "\n",
        "multihop_qa.json": json.dumps(multi, indent=1, ensure_ascii=False) + "\n",
        "scone_nli.json": json.dumps(scone, indent=1, ensure_ascii=False) + "\n",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [n for n, text in files.items() if (DATA_DIR / n).read_text("utf-8") != text]
        if stale:
            sys.stderr.write(f"stale data files: {', '.join(stale)}\n")
            return 1
        return 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (DATA_DIR / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
