"""Conversation intelligence from transcribed or given messages: sentiment, insights, topics, entities,
trackers, summary and analytics.

Pure functions over `SpokenMessage`s (times in seconds from the conversation's origin), so audio and text
conversations share every step and each step is testable on its own. The rules are deliberately simple and
explainable; they work on unpunctuated speech-recognition output as well as on typed text.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

NEGATIVE_BELOW = -0.3
POSITIVE_ABOVE = 0.3


@dataclass(frozen=True)
class SpokenMessage:
    id: str
    speaker_id: str
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Entity:
    type: str  # email, money, percent, phone_number, date, or custom
    value: str
    text: str  # as written in the message
    message_id: str
    offset: int  # character offset in the message text
    custom_type: str | None = None


@dataclass(frozen=True)
class Insight:
    id: str
    type: str  # question, action_item or follow_up
    text: str
    score: float
    message_id: str
    speaker_id: str
    assignee_id: str | None
    definitive: bool
    phrases: tuple[str, ...]
    entities: tuple[Entity, ...]
    due_in_days: int | None


@dataclass(frozen=True)
class Topic:
    id: str
    text: str
    score: float
    message_ids: tuple[str, ...]
    parent: str | None


@dataclass(frozen=True)
class TrackerMatch:
    tracker_name: str
    value: str  # the vocabulary phrase that matched
    message_id: str
    message_text: str
    offset: int


@dataclass(frozen=True)
class SummarySentence:
    id: str
    text: str
    message_id: str


@dataclass(frozen=True)
class MemberOverlap:
    speaker_id: str
    seconds: float
    percent: float  # share of this member's talk time


@dataclass(frozen=True)
class MemberAnalytics:
    speaker_id: str
    talk_s: float
    talk_percent: float
    listen_s: float
    listen_percent: float
    wpm: int
    overlap_s: float
    overlaps: tuple[MemberOverlap, ...]


@dataclass(frozen=True)
class Analytics:
    duration_s: float
    talk_s: float
    silence_s: float
    overlap_s: float
    members: tuple[MemberAnalytics, ...]


def spoken_language(language_code: str) -> str:
    """The ISO 639-1 language of a Symbl `languageCode` ("es-US" -> "es"): what the speech model is asked for."""
    return language_code.split("-", 1)[0].lower()


def stable_id(*parts: object) -> str:
    """A 16-digit id derived from its parts, so recomputed insights keep their ids."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return str(10**15 + int.from_bytes(digest[:8], "big") % (9 * 10**15))


# --------------------------------------------------------------------------------------------- sentiment


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def suggested_sentiment(polarity: float) -> str:
    if polarity < NEGATIVE_BELOW:
        return "negative"
    if polarity > POSITIVE_ABOVE:
        return "positive"
    return "neutral"


def sentiment(text: str) -> tuple[float, str]:
    """VADER compound score in [-1, 1] and Symbl's suggested label."""
    polarity = round(float(_vader().polarity_scores(text)["compound"]), 3)
    return polarity, suggested_sentiment(polarity)


# --------------------------------------------------------------------------------------------- text helpers

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:[.,]\d+)*")

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "actually",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "can't",
        "cannot",
        "could",
        "couldn't",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "else",
        "even",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "getting",
        "go",
        "goes",
        "going",
        "gone",
        "good",
        "got",
        "gotta",
        "had",
        "hadn't",
        "has",
        "hasn't",
        "have",
        "haven't",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "here's",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "how's",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "kind",
        "know",
        "let",
        "let's",
        "like",
        "lot",
        "lots",
        "make",
        "many",
        "may",
        "maybe",
        "me",
        "mean",
        "might",
        "more",
        "most",
        "much",
        "must",
        "my",
        "myself",
        "need",
        "needs",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "oh",
        "ok",
        "okay",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "pretty",
        "probably",
        "quite",
        "really",
        "right",
        "said",
        "same",
        "say",
        "says",
        "see",
        "seem",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "shouldn't",
        "so",
        "some",
        "something",
        "sort",
        "still",
        "such",
        "sure",
        "take",
        "than",
        "thank",
        "thanks",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "thing",
        "things",
        "think",
        "this",
        "those",
        "though",
        "through",
        "to",
        "too",
        "uh",
        "um",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "want",
        "wanna",
        "was",
        "wasn't",
        "way",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "well",
        "were",
        "weren't",
        "what",
        "what's",
        "when",
        "when's",
        "where",
        "where's",
        "which",
        "while",
        "who",
        "who's",
        "whom",
        "why",
        "why's",
        "will",
        "with",
        "won't",
        "would",
        "wouldn't",
        "yeah",
        "yes",
        "yet",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "hello",
        "hi",
        "hey",
        "bye",
        "goodbye",
        "great",
        "fine",
        "today",
        "tomorrow",
        "yesterday",
        "week",
        "next",
        "last",
        "time",
        "times",
        "day",
        "days",
    ]
)


def split_sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in _SENTENCE_END.split(text.strip()) if sentence.strip()]


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def word_count(text: str) -> int:
    return len(words_of(text))


# --------------------------------------------------------------------------------------------- entities

_BUILTIN_ENTITIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("money", re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s(?:dollars|euros|pounds|bucks)\b", re.I)),
    ("percent", re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|percent\b)", re.I)),
    ("phone_number", re.compile(r"(?<!\d)(?:\+?\d{1,2}[\s.-])?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)")),
    (
        "date",
        re.compile(
            r"\b(?:today|tomorrow|yesterday|tonight|next (?:week|month|year)|end of (?:the )?(?:day|week|month)"
            r"|(?:next |this )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
            r"|(?:january|february|march|april|may|june|july|august|september|october|november|december)"
            r"\s+\d{1,2}(?:st|nd|rd|th)?)\b",
            re.I,
        ),
    ),
)


def detect_entities(
    messages: Sequence[SpokenMessage], custom_entities: Sequence[Mapping[str, str]] = ()
) -> list[Entity]:
    """Built-in entities (email, money, percent, phone, date) plus the caller's custom ones (`customType`, `text`)."""
    found: list[Entity] = []
    for message in messages:
        found.extend(_entities_in(message.text, message.id, custom_entities))
    return found


def _entities_in(text: str, message_id: str, custom_entities: Sequence[Mapping[str, str]]) -> list[Entity]:
    found = [
        Entity(kind, match.group(0).lower(), match.group(0), message_id, match.start())
        for kind, pattern in _BUILTIN_ENTITIES
        for match in pattern.finditer(text)
    ]
    for custom in custom_entities:
        phrase = str(custom.get("text") or "").strip()
        if not phrase:
            continue
        for match in re.finditer(rf"\b{re.escape(phrase)}\b", text, re.I):
            value = str(custom.get("value") or phrase)
            found.append(Entity("custom", value, match.group(0), message_id, match.start(), custom.get("customType")))
    return sorted(found, key=lambda entity: entity.offset)


# --------------------------------------------------------------------------------------------- insights

_INTERROGATIVE_START = re.compile(
    r"^(?:what|why|how|when|where|who|whom|whose|which|can|could|would|will|do|does|did|is|are|was|were|"
    r"should|shall|may|have|has|had|isn't|aren't|don't|doesn't|didn't|won't|wouldn't|couldn't)\b",
    re.I,
)
_FOLLOW_UP = re.compile(
    r"\b(?:follow(?:ing)?[ -]up|get(?:ting)? back to|circle back|reach out|touch base|check in with|"
    r"send (?:you|it over|over|me|him|her|them)|call (?:you|me|him|her|them) back|e-?mail (?:you|me|him|her|them)|"
    r"schedule (?:a|the|another|our) (?:call|meeting|demo))\b",
    re.I,
)
_ACTION = re.compile(
    r"\b(?P<who>i|we|you|he|she|they|someone)\s*"
    r"(?P<modal>'ll|will|shall|must|need to|needs to|have to|has to|(?:am|are|is|'m|'re) going to|should|could|might)"
    r"\s+(?P<phrase>(?!not\b|be\b)[a-z].*)",
    re.I,
)
_LETS = re.compile(r"\b(?P<who>let's|let us)\s+(?P<phrase>[a-z].*)", re.I)
_IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?P<phrase>(?:make sure|remember to|don't forget to|send|schedule|call|email|review|prepare|"
    r"book|set up|finish|update|share|check|follow up)\b.*)",
    re.I,
)
_TENTATIVE = re.compile(r"\b(?:should|could|might|maybe|perhaps|probably)\b", re.I)
_DUE = (
    (re.compile(r"\b(?:today|tonight|end of (?:the )?day)\b", re.I), 0),
    (re.compile(r"\btomorrow\b", re.I), 1),
    (re.compile(r"\b(?:next week|end of (?:the )?week)\b", re.I), 7),
    (re.compile(r"\b(?:next month|end of (?:the )?month)\b", re.I), 30),
)


def _strip_end(text: str) -> str:
    return text.strip().rstrip(".!?,;:").strip()


def _is_question(sentence: str) -> float:
    """Score of a sentence being a question: 0 when it is not one."""
    if sentence.rstrip().endswith("?"):
        return 0.99
    if sentence.rstrip()[-1:] in ".!":
        return 0.0
    return 0.8 if _INTERROGATIVE_START.match(sentence) and word_count(sentence) >= 3 else 0.0


def _action(sentence: str) -> tuple[str, str, bool] | None:
    """(subject, action phrase, definitive) when the sentence commits someone to do something."""
    for pattern in (_ACTION, _LETS, _IMPERATIVE):
        match = pattern.search(sentence)
        if match and word_count(match.group("phrase")) >= 2:
            subject = (match.groupdict().get("who") or "you").lower()
            modal = (match.groupdict().get("modal") or "").lower()
            definitive = not (_TENTATIVE.search(modal) or _TENTATIVE.search(sentence))
            return subject, _strip_end(match.group("phrase")), definitive
    return None


def action_phrases(text: str) -> list[str]:
    """The action phrases of a message, for `detectPhrases=true`."""
    phrases = []
    for sentence in split_sentences(text):
        action = _action(sentence) if not _is_question(sentence) else None
        if action:
            phrases.append(action[1])
    return phrases


def detect_insights(messages: Sequence[SpokenMessage], conversation_id: str) -> list[Insight]:
    """Questions, action items and follow-ups, one per sentence, in conversation order."""
    speakers = list(dict.fromkeys(message.speaker_id for message in messages))
    insights: list[Insight] = []
    for message in messages:
        for index, sentence in enumerate(split_sentences(message.text)):
            insight = _insight(sentence, message, speakers, conversation_id, index)
            if insight:
                insights.append(insight)
    return insights


def _insight(
    sentence: str, message: SpokenMessage, speakers: Sequence[str], conversation_id: str, index: int
) -> Insight | None:
    entities = tuple(_entities_in(sentence, message.id, ()))

    def make(kind: str, score: float, assignee: str | None, definitive: bool, phrases: tuple[str, ...]) -> Insight:
        due = next((days for pattern, days in _DUE if pattern.search(sentence)), None)
        return Insight(
            id=stable_id(conversation_id, message.id, index, kind),
            type=kind,
            text=_strip_end(sentence) + ("?" if kind == "question" else "."),
            score=score,
            message_id=message.id,
            speaker_id=message.speaker_id,
            assignee_id=assignee,
            definitive=definitive,
            phrases=phrases,
            entities=entities,
            due_in_days=due if kind != "question" else None,
        )

    question_score = _is_question(sentence)
    if question_score:
        return make("question", question_score, None, True, ())
    action = _action(sentence)
    if action is None:
        return None
    subject, phrase, definitive = action
    others = [speaker for speaker in speakers if speaker != message.speaker_id]
    if subject in ("i", "we", "let's", "let us"):
        assignee: str | None = message.speaker_id
    elif subject == "you" and len(others) == 1:
        assignee = others[0]
    else:
        assignee = None
    kind = "follow_up" if _FOLLOW_UP.search(sentence) else "action_item"
    return make(kind, 0.9 if definitive else 0.7, assignee, definitive, (phrase,))


# --------------------------------------------------------------------------------------------- topics


def _content_runs(text: str) -> list[list[str]]:
    """Runs of consecutive content words (no stopwords, no numbers), lower-cased."""
    runs: list[list[str]] = [[]]
    for word in words_of(text.lower()):
        if word in STOPWORDS or len(word) < 3 or word[0].isdigit():
            runs.append([])
        else:
            runs[-1].append(word)
    return [run for run in runs if run]


MIN_TOPICS = 3
"""A short call repeats few phrases: its weightiest phrases said once fill the topics up to this many."""
ONCE_WEIGHT = 0.5
"""A phrase said once weighs half as much as its length alone would give, so it ranks below repeated ones."""


def _choose(candidates: Sequence[str], counts: Counter[str], chosen: list[str], limit: int) -> None:
    for phrase in candidates:
        if len(chosen) >= limit:
            return
        # A word or phrase that only ever occurs inside an already chosen phrase adds nothing.
        if any(phrase in other and counts[phrase] <= counts[other] for other in chosen):
            continue
        chosen.append(phrase)


def detect_topics(messages: Sequence[SpokenMessage], conversation_id: str, limit: int = 10) -> list[Topic]:
    """Key words and phrases scored by frequency (phrases weigh more), normalised so the best scores 1.

    Repeated phrases come first; when there are fewer than `MIN_TOPICS` of them, phrases said once fill up.
    """
    counts: Counter[str] = Counter()
    where: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        for run in _content_runs(message.text):
            for size in (1, 2, 3):
                for start in range(len(run) - size + 1):
                    phrase = " ".join(run[start : start + size])
                    counts[phrase] += 1
                    if message.id not in where[phrase]:
                        where[phrase].append(message.id)
    weighted = {
        phrase: count * (1.0 + 0.6 * phrase.count(" ")) * (1.0 if count >= 2 else ONCE_WEIGHT)
        for phrase, count in counts.items()
    }
    ranked = sorted(weighted, key=lambda phrase: (-weighted[phrase], phrase))
    chosen: list[str] = []
    _choose([phrase for phrase in ranked if counts[phrase] >= 2], counts, chosen, limit)
    _choose([phrase for phrase in ranked if counts[phrase] < 2], counts, chosen, min(limit, MIN_TOPICS))
    if not chosen:
        return []
    best = max(weighted[phrase] for phrase in chosen)
    singles = [phrase for phrase in chosen if " " not in phrase]
    return [
        Topic(
            id=stable_id(conversation_id, "topic", phrase),
            text=phrase,
            score=round(weighted[phrase] / best, 3),
            message_ids=tuple(where[phrase]),
            parent=next((single for single in singles if single != phrase and single in phrase.split()), None),
        )
        for phrase in chosen
    ]


# --------------------------------------------------------------------------------------------- trackers


def detect_trackers(messages: Sequence[SpokenMessage], trackers: Sequence[Mapping[str, object]]) -> list[TrackerMatch]:
    """Occurrences of each tracker's vocabulary (`[{name, vocabulary: [str]}]`), case-insensitive."""
    matches: list[TrackerMatch] = []
    for tracker in trackers:
        name = str(tracker.get("name") or "")
        vocabulary = tracker.get("vocabulary") or []
        for phrase in vocabulary if isinstance(vocabulary, list) else []:
            pattern = re.compile(rf"\b{re.escape(str(phrase).strip())}\b", re.I)
            for message in messages:
                for match in pattern.finditer(message.text):
                    matches.append(TrackerMatch(name, str(phrase), message.id, message.text, match.start()))
    return matches


# --------------------------------------------------------------------------------------------- summary


def summarize(messages: Sequence[SpokenMessage], conversation_id: str, max_sentences: int = 5) -> list[SummarySentence]:
    """Extractive summary: the sentences richest in the conversation's frequent content words, in order."""
    sentences = [
        (message, sentence)
        for message in messages
        for sentence in split_sentences(message.text)
        if word_count(sentence) >= 4
    ]
    if not sentences:
        return []
    frequency = Counter(word for message in messages for run in _content_runs(message.text) for word in run)

    def score(sentence: str) -> float:
        content = [word for run in _content_runs(sentence) for word in run]
        return sum(frequency[word] for word in content) / math.sqrt(word_count(sentence))

    wanted = max(1, min(max_sentences, math.ceil(len(sentences) / 5)))
    ranked = sorted(range(len(sentences)), key=lambda index: -score(sentences[index][1]))[:wanted]
    return [
        SummarySentence(
            stable_id(conversation_id, "summary", index), _strip_end(sentences[index][1]) + ".", sentences[index][0].id
        )
        for index in sorted(ranked)
    ]


# --------------------------------------------------------------------------------------------- analytics


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(interval for interval in intervals if interval[1] > interval[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: Iterable[tuple[float, float]]) -> float:
    return sum(end - start for start, end in intervals)


def _intersection(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    return sum(max(0.0, min(a_end, b_end) - max(a_start, b_start)) for a_start, a_end in a for b_start, b_end in b)


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole > 0 else 0.0


def compute_analytics(messages: Sequence[SpokenMessage]) -> Analytics:
    """Talk, listen, silence and overlap times and speaking pace, from message timings."""
    if not messages:
        return Analytics(0.0, 0.0, 0.0, 0.0, ())
    duration = max(message.end_s for message in messages) - min(message.start_s for message in messages)
    by_speaker: dict[str, list[SpokenMessage]] = defaultdict(list)
    for message in messages:
        by_speaker[message.speaker_id].append(message)
    talk = {speaker: _union((m.start_s, m.end_s) for m in own) for speaker, own in by_speaker.items()}
    all_talk = _union((message.start_s, message.end_s) for message in messages)
    total_talk = _length(all_talk)
    coverage: list[tuple[float, int]] = sorted(
        [(start, 1) for intervals in talk.values() for start, _ in intervals]
        + [(end, -1) for intervals in talk.values() for _, end in intervals]
    )
    overlap_total, active, previous = 0.0, 0, 0.0
    for time, change in coverage:
        if active >= 2:
            overlap_total += time - previous
        active, previous = active + change, time
    members = []
    for speaker, intervals in talk.items():
        own_talk = _length(intervals)
        overlaps = tuple(
            MemberOverlap(other, round(seconds, 3), _percent(seconds, own_talk))
            for other, other_intervals in talk.items()
            if other != speaker and (seconds := _intersection(intervals, other_intervals)) > 0
        )
        words = sum(word_count(message.text) for message in by_speaker[speaker])
        members.append(
            MemberAnalytics(
                speaker_id=speaker,
                talk_s=round(own_talk, 3),
                talk_percent=_percent(own_talk, total_talk),
                listen_s=round(max(0.0, total_talk - own_talk), 3),
                listen_percent=round(100.0 - _percent(own_talk, total_talk), 3) if total_talk > 0 else 0.0,
                wpm=round(words * 60.0 / own_talk) if own_talk > 0 else 0,
                overlap_s=round(sum(overlap.seconds for overlap in overlaps), 3),
                overlaps=overlaps,
            )
        )
    return Analytics(
        duration_s=round(duration, 3),
        talk_s=round(total_talk, 3),
        silence_s=round(max(0.0, duration - total_talk), 3),
        overlap_s=round(overlap_total, 3),
        members=tuple(members),
    )
