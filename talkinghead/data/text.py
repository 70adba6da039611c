"""Varied, phonetically rich English text for synthetic speech, deterministic for a seed.

Sentences come from templates whose slots draw on word lists written here, chosen to
cover English visemes often: bilabials (*bubble, maple, pump*), labiodentals (*five,
vivid, fever*), dental fricatives (*think, weather, both*), post-alveolars (*shore,
church, judge, measure*), rounded vowels and glides (*moon, boat, window, queen*),
diphthongs (*voice, mouth, tide*). Kinds of sentence: statements, questions (yes/no
and wh-), lists, numbers (years, prices, clock times, phone digits, counts), names,
exclamations, very short replies and long two-clause sentences, so lengths range from
one word to ~25 words. Digits are left as digits: the speech engine reads them.

:func:`generate_script` strings sentences together with pauses of varied length
(short, medium and long) between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAMES = ("Alice", "Bob", "Maria", "Peter", "Fatima", "Joshua", "Ingrid", "Theo", "Yusuf", "Beatrice",
         "Charlotte", "Dmitri", "Olivia", "Zachary", "Mei", "George", "Priya", "Vincent", "Harriet",
         "Samuel", "Wendy", "Oscar", "Nadia", "Hugo", "Julia", "Kwame", "Elena", "Marcus", "Ruth", "Felix")
SURNAMES = ("Thompson", "Baker", "Fischer", "Moreno", "Whitfield", "Okafor", "Murphy", "Vasquez",
            "Chambers", "Lindqvist", "Patel", "Rossi", "Bishop", "Zhang", "Fairbanks", "Mitchell")
PLACES = ("kitchen", "garden", "harbour", "museum", "library", "village square", "train station",
          "boat house", "office", "workshop", "pharmacy", "bakery", "mountain path", "playground",
          "swimming pool", "theatre", "market", "church yard", "beach", "valley", "warehouse", "bridge")
CITIES = ("Boston", "Paris", "Manchester", "Lisbon", "Vienna", "Melbourne", "Chicago", "Nairobi",
          "Glasgow", "Mumbai", "Toronto", "Warsaw", "Dublin", "Vancouver", "Auckland", "Birmingham")
NOUNS = ("bubble", "maple tree", "pump", "window", "thumb", "feather", "voice", "mouth", "moon",
         "bottle", "bridge", "judge", "measure", "vision", "church", "sheep", "fever", "valve",
         "wheel", "queen", "puzzle", "basket", "umbrella", "violin", "jacket", "mirror", "pillow",
         "ribbon", "shovel", "thermos", "engine", "orange", "zipper", "yoghurt", "wagon", "whistle",
         "cabbage", "blanket", "motorbike", "parcel", "lantern", "hammer", "notebook", "teapot",
         "envelope", "bicycle", "trumpet", "sofa", "castle", "pebble", "rope", "coffee", "sandwich",
         "chimney", "fountain", "ladder", "doorbell", "compass", "paintbrush", "sweater", "oyster")
PLURALS = ("apples", "boxes", "photographs", "shoes", "cherries", "potatoes", "pencils", "ships",
           "watches", "clouds", "voices", "fishermen", "bees", "mushrooms", "thoughts", "bridges",
           "pebbles", "vouchers", "tomatoes", "balloons", "feathers", "tickets", "oranges", "puppies")
ADJECTIVES = ("bright", "heavy", "quiet", "smooth", "purple", "fabulous", "muddy", "wobbly", "shiny",
              "ancient", "enormous", "tiny", "peaceful", "frozen", "velvet", "bumpy", "brave", "careful",
              "thoughtful", "juicy", "broken", "fresh", "gloomy", "marvellous", "vivid", "rough", "yellow",
              "mysterious", "polished", "warm", "chilly", "beautiful", "odd", "useful", "thick", "curious")
VERBS = (("open", "opened"), ("move", "moved"), ("fix", "fixed"), ("push", "pushed"), ("borrow", "borrowed"),
         ("measure", "measured"), ("wash", "washed"), ("paint", "painted"), ("carry", "carried"),
         ("throw", "threw"), ("bring", "brought"), ("find", "found"), ("buy", "bought"), ("choose", "chose"),
         ("hide", "hid"), ("wrap", "wrapped"), ("polish", "polished"), ("mend", "mended"),
         ("check", "checked"), ("photograph", "photographed"), ("deliver", "delivered"),
         ("weigh", "weighed"), ("judge", "judged"), ("fetch", "fetched"), ("shove", "shoved"),
         ("lift", "lifted"), ("sell", "sold"), ("steal", "stole"), ("build", "built"), ("bake", "baked"))
ADVERBS = ("quickly", "slowly", "happily", "bravely", "carefully", "suddenly", "quietly", "proudly",
           "gently", "foolishly", "thoroughly", "almost", "eventually", "obviously", "reluctantly")
PREPOSITIONS = ("near", "behind", "inside", "under", "beside", "opposite", "across", "through", "above")
TIMES = ("yesterday", "this morning", "last Thursday", "on Friday evening", "at midnight", "tomorrow",
         "next week", "every Wednesday", "in the summer", "before breakfast", "after the show",
         "during the storm", "on the fifth of June", "at dawn", "later tonight")
FEELINGS = ("surprised", "delighted", "worried", "exhausted", "thrilled", "puzzled", "jealous",
            "furious", "relieved", "embarrassed", "bored", "confident")
FOODS = ("bread", "cheese", "fish", "soup", "rice", "plums", "chocolate", "pepper", "butter", "mangoes",
         "porridge", "vegetables", "garlic", "pizza", "juice", "muffins")
SHORT_REPLIES = ("Yes.", "No.", "Okay.", "Absolutely not.", "Maybe later.", "Thank you very much.",
                 "Of course!", "Really?", "I think so.", "Why not?", "Hmm, perhaps.", "Good morning.",
                 "See you soon.", "Wonderful!", "Not at all.", "Well, well.", "Oh, my goodness!",
                 "Excuse me?", "Please wait.", "That's fine.")
INTERJECTIONS = ("Oh", "Wow", "Well", "Look", "Listen", "Honestly", "Goodness", "Right", "Hey", "Ah")

VOWEL_LETTERS = "aeiou"


@dataclass(frozen=True)
class Utterance:
    """One sentence and what kind it is (``statement``, ``question``, ``list``, ``number``,
    ``exclamation``, ``short`` or ``compound``)."""

    text: str
    kind: str

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")


@dataclass(frozen=True)
class ScriptItem:
    """An utterance followed by ``pause_after_s`` seconds of silence."""

    utterance: Utterance
    pause_after_s: float


def _pick(rng: np.random.Generator, options: tuple) -> str:
    return options[int(rng.integers(len(options)))]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in VOWEL_LETTERS else "a ") + phrase


def _noun_phrase(rng: np.random.Generator) -> str:
    noun = _pick(rng, NOUNS)
    if rng.random() < 0.5:
        return "the " + (f"{_pick(rng, ADJECTIVES)} {noun}" if rng.random() < 0.6 else noun)
    return _with_article(f"{_pick(rng, ADJECTIVES)} {noun}" if rng.random() < 0.7 else noun)


def _person(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.55:
        return _pick(rng, NAMES)
    if r < 0.75:
        return f"{_pick(rng, NAMES)} {_pick(rng, SURNAMES)}"
    return _pick(rng, ("my neighbour", "the teacher", "her brother", "our manager", "the old fisherman",
                       "his aunt", "the doctor", "my cousin", "the pilot", "their chef"))


def _number(rng: np.random.Generator) -> str:
    kind = int(rng.integers(6))
    if kind == 0:
        return str(int(rng.integers(2, 100)))
    if kind == 1:
        return str(int(rng.integers(100, 10000)))
    if kind == 2:
        return f"{int(rng.integers(1, 200))}.{int(rng.integers(0, 100)):02d}"
    if kind == 3:
        return str(int(rng.integers(1890, 2031)))  # a year
    if kind == 4:
        return f"{int(rng.integers(1, 13))}:{int(rng.choice([0, 5, 10, 15, 20, 30, 45, 50])):02d}"
    return str(int(rng.integers(3, 13)))


def _list(rng: np.random.Generator, pool: tuple, n_min: int = 3, n_max: int = 5) -> str:
    n = int(rng.integers(n_min, n_max + 1))
    items = [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _clause(rng: np.random.Generator) -> str:
    base, past = VERBS[int(rng.integers(len(VERBS)))]
    choice = int(rng.integers(5))
    if choice == 0:
        return f"{_person(rng)} {past} {_noun_phrase(rng)} {_pick(rng, PREPOSITIONS)} the {_pick(rng, PLACES)}"
    if choice == 1:
        return f"{_person(rng)} {_pick(rng, ADVERBS)} {past} {_noun_phrase(rng)} {_pick(rng, TIMES)}"
    if choice == 2:
        return f"we will {base} {_noun_phrase(rng)} in {_pick(rng, CITIES)} {_pick(rng, TIMES)}"
    if choice == 3:
        return f"the {_pick(rng, PLACES)} was {_pick(rng, ADJECTIVES)} and {_pick(rng, ADJECTIVES)}"
    return f"{_person(rng)} felt {_pick(rng, FEELINGS)} about {_noun_phrase(rng)}"


def _statement(rng):
    return _clause(rng) + "."


def _question(rng):
    base, _ = VERBS[int(rng.integers(len(VERBS)))]
    choice = int(rng.integers(6))
    if choice == 0:
        return f"did {_person(rng)} really {base} {_noun_phrase(rng)} {_pick(rng, TIMES)}?"
    if choice == 1:
        return f"where did you put {_noun_phrase(rng)}?"
    if choice == 2:
        return f"is the {_pick(rng, NOUNS)} {_pick(rng, ADJECTIVES)} or {_pick(rng, ADJECTIVES)}?"
    if choice == 3:
        return f"how many {_pick(rng, PLURALS)} are there {_pick(rng, PREPOSITIONS)} the {_pick(rng, PLACES)}?"
    if choice == 4:
        return f"why would anyone {base} {_noun_phrase(rng)}?"
    return f"could you {base} {_noun_phrase(rng)} before {_person(rng)} arrives from {_pick(rng, CITIES)}?"


def _list_sentence(rng):
    choice = int(rng.integers(3))
    if choice == 0:
        return f"please buy {_list(rng, FOODS)}."
    if choice == 1:
        return f"we visited {_list(rng, CITIES, 2, 4)} {_pick(rng, TIMES)}."
    return f"the box held {_list(rng, PLURALS)}."


def _number_sentence(rng):
    choice = int(rng.integers(5))
    if choice == 0:
        return f"the train to {_pick(rng, CITIES)} leaves at {_number(rng)} from platform {int(rng.integers(1, 15))}."
    if choice == 1:
        return f"it costs {int(rng.integers(2, 500))} dollars and {int(rng.integers(1, 99))} cents."
    if choice == 2:
        return f"{_person(rng)} was born in {int(rng.integers(1920, 2020))}."
    if choice == 3:
        digits = " ".join(str(int(d)) for d in rng.integers(0, 10, size=int(rng.integers(4, 8))))
        return f"my number is {digits}."
    return f"there were {_number(rng)} {_pick(rng, PLURALS)} {_pick(rng, PREPOSITIONS)} the {_pick(rng, PLACES)}."


def _exclamation(rng):
    choice = int(rng.integers(3))
    if choice == 0:
        return f"{_pick(rng, INTERJECTIONS)}, the {_pick(rng, NOUNS)} is {_pick(rng, ADJECTIVES)}!"
    if choice == 1:
        return f"what {_with_article(_pick(rng, ADJECTIVES) + ' ' + _pick(rng, NOUNS))}!"
    return f"{_pick(rng, INTERJECTIONS)}, {_person(rng)} is {_pick(rng, FEELINGS)}!"


def _compound(rng):
    joiner = _pick(rng, (", but ", ", and then ", " because ", ", although ", ", so ", " while "))
    return _clause(rng) + joiner + _clause(rng) + _pick(rng, (".", ".", "?", "!"))


_GENERATORS = (  # (kind, weight, generator)
    ("statement", 0.26, _statement),
    ("question", 0.18, _question),
    ("list", 0.1, _list_sentence),
    ("number", 0.12, _number_sentence),
    ("exclamation", 0.08, _exclamation),
    ("short", 0.08, lambda rng: _pick(rng, SHORT_REPLIES)),
    ("compound", 0.18, _compound),
)
# Pause lengths between utterances: (probability, low s, high s).
PAUSE_BANDS = ((0.5, 0.15, 0.4), (0.35, 0.4, 1.0), (0.15, 1.0, 2.5))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def generate_sentence(rng: np.random.Generator) -> Utterance:
    """One sentence drawn from the templates with ``rng``."""
    weights = np.array([w for _, w, _ in _GENERATORS])
    index = int(rng.choice(len(_GENERATORS), p=weights / weights.sum()))
    kind, _, generator = _GENERATORS[index]
    return Utterance(_capitalise(generator(rng)), kind)


def sample_pause(rng: np.random.Generator) -> float:
    """A pause length in seconds: short (0.15-0.4), medium (0.4-1.0) or long (1.0-2.5)."""
    probs = np.array([p for p, _, _ in PAUSE_BANDS])
    _, lo, hi = PAUSE_BANDS[int(rng.choice(len(PAUSE_BANDS), p=probs))]
    return float(rng.uniform(lo, hi))


def generate_script(seed: int | np.random.Generator, num_utterances: int) -> list[ScriptItem]:
    """``num_utterances`` sentences with a pause after each, identical for the same ``seed``."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [ScriptItem(generate_sentence(rng), sample_pause(rng)) for _ in range(num_utterances)]
