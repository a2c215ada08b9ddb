"""Conversation API responses in Symbl's JSON shapes, computed from the stored members and messages.

Insights, topics, entities, trackers, summary and analytics are derived on each request by the pure steps in
`language`, so a renamed or merged member shows up everywhere at once and ids stay stable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import cached_property

from symbl_server import language
from symbl_server.options import RequestError
from symbl_server.store import ConversationRow, MemberRow, MessageRow, Store

TRANSCRIPT_TYPES = ("text/markdown", "text/srt")


def iso(epoch_s: float) -> str:
    """Symbl's timestamp format: UTC with milliseconds and a Z."""
    moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _seconds(value: float) -> float:
    return round(value, 2)


def _sentiment(polarity: float) -> dict:
    return {"polarity": {"score": round(polarity, 3)}, "suggested": language.suggested_sentiment(polarity)}


class ConversationView:
    """One conversation as read from the store at request time."""

    def __init__(self, store: Store, conversation: ConversationRow):
        self.conversation = conversation
        self.members = store.members(conversation.id)
        self.messages = store.messages(conversation.id)
        self._members_by_id = {member.id: member for member in self.members}

    @property
    def id(self) -> str:
        return self.conversation.id

    @cached_property
    def spoken(self) -> list[language.SpokenMessage]:
        return [
            language.SpokenMessage(message.id, message.member_id, message.text, message.start_s, message.end_s)
            for message in self.messages
        ]

    @cached_property
    def start_s(self) -> float:
        return min((message.start_s for message in self.messages), default=0.0)

    def _epoch(self, offset_s: float) -> float:
        return self.conversation.origin + offset_s

    def _member(self, member_id: str | None) -> MemberRow | None:
        return self._members_by_id.get(member_id) if member_id else None

    def member_json(self, member: MemberRow) -> dict:
        return {"id": member.id, "name": member.name, **({"email": member.email} if member.email else {})}

    def _from(self, member_id: str | None) -> dict:
        """`from` of insights: id, name and, like Symbl, the email also as userId."""
        member = self._member(member_id)
        if member is None:
            return {}
        return {**self.member_json(member), **({"userId": member.email} if member.email else {})}

    # ------------------------------------------------------------------------------------ conversation

    def conversation_json(self) -> dict:
        end_s = max((message.end_s for message in self.messages), default=self.start_s)
        return {
            "id": self.id,
            "type": "meeting",
            "name": self.conversation.name,
            "startTime": iso(self._epoch(self.start_s) if self.messages else self.conversation.origin),
            "endTime": iso(self._epoch(end_s) if self.messages else self.conversation.origin),
            "members": [self.member_json(member) for member in self.members],
            "metadata": self.conversation.metadata,
        }

    def messages_json(self, sentiment: bool, verbose: bool) -> dict:
        detect_phrases = bool(self.conversation.options.get("detectPhrases"))
        return {
            "messages": [self._message_json(message, sentiment, verbose, detect_phrases) for message in self.messages]
        }

    def _message_json(self, message: MessageRow, sentiment: bool, verbose: bool, detect_phrases: bool) -> dict:
        member = self._member(message.member_id)
        body: dict = {
            "id": message.id,
            "text": message.text,
            "from": self.member_json(member) if member else {},
            "startTime": iso(self._epoch(message.start_s)),
            "endTime": iso(self._epoch(message.end_s)),
            "timeOffset": _seconds(message.start_s - self.start_s),
            "duration": _seconds(message.end_s - message.start_s),
            "conversationId": self.id,
        }
        if detect_phrases:
            body["phrases"] = [
                {"type": "action_phrase", "text": phrase} for phrase in language.action_phrases(message.text)
            ]
        if sentiment:
            body["sentiment"] = _sentiment(message.polarity)
        if verbose:
            body["words"] = [
                {
                    "word": word.text,
                    "startTime": iso(self._epoch(word.start_s)),
                    "endTime": iso(self._epoch(word.end_s)),
                    **({"score": word.confidence} if word.confidence is not None else {}),
                    "timeOffset": _seconds(word.start_s - self.start_s),
                    "duration": _seconds(word.end_s - word.start_s),
                }
                for word in message.words
            ]
        return body

    def members_json(self) -> dict:
        return {"members": [self.member_json(member) for member in self.members]}

    # ------------------------------------------------------------------------------------ insights

    @cached_property
    def insights(self) -> list[language.Insight]:
        threshold = float(self.conversation.options.get("confidenceThreshold", 0.5))
        return [insight for insight in language.detect_insights(self.spoken, self.id) if insight.score >= threshold]

    def _insight_json(self, insight: language.Insight) -> dict:
        body: dict = {
            "id": insight.id,
            "text": insight.text,
            "type": insight.type,
            "score": insight.score,
            "messageIds": [insight.message_id],
            "from": self._from(insight.speaker_id),
        }
        if insight.type == "question":
            return body
        assignee = self._member(insight.assignee_id)
        body.update(
            entities=[
                {"type": entity.type, "text": entity.text, "offset": entity.offset, "value": entity.value}
                for entity in insight.entities
            ],
            phrases=[{"type": "action_phrase", "text": phrase} for phrase in insight.phrases],
            definitive=insight.definitive,
            assignee=self.member_json(assignee) if assignee else {},
        )
        if insight.due_in_days is not None:
            message = next(message for message in self.messages if message.id == insight.message_id)
            body["dueBy"] = iso(self._epoch(message.start_s) + timedelta(days=insight.due_in_days).total_seconds())
        return body

    def insights_json(self, kind: str | None = None) -> list[dict]:
        return [self._insight_json(insight) for insight in self.insights if kind is None or insight.type == kind]

    # ------------------------------------------------------------------------------------ topics and more

    def topics_json(self, sentiment: bool, parent_refs: bool) -> dict:
        polarity = {message.id: message.polarity for message in self.messages}
        topics = []
        for topic in language.detect_topics(self.spoken, self.id):
            body: dict = {
                "id": topic.id,
                "text": topic.text,
                "type": "topic",
                "score": topic.score,
                "messageIds": list(topic.message_ids),
            }
            if sentiment:
                scores = [polarity[message_id] for message_id in topic.message_ids]
                body["sentiment"] = _sentiment(sum(scores) / len(scores))
            if parent_refs:
                body["parentRefs"] = [{"type": "topic", "text": topic.parent}] if topic.parent else []
            topics.append(body)
        return {"topics": topics}

    def entities_json(self) -> dict:
        if not self.conversation.options.get("detectEntities"):
            return {"entities": []}
        groups: dict[tuple, list[language.Entity]] = defaultdict(list)
        for entity in language.detect_entities(self.spoken, self.conversation.options.get("entities") or ()):
            groups[(entity.type, entity.custom_type, entity.value)].append(entity)
        texts = {message.id: message.text for message in self.messages}
        return {
            "entities": [
                {
                    "type": kind,
                    **({"customType": custom_type} if custom_type else {}),
                    "value": value,
                    "text": found[0].text,
                    "messageRefs": [
                        {"id": entity.message_id, "text": texts[entity.message_id], "offset": entity.offset}
                        for entity in found
                    ],
                }
                for (kind, custom_type, value), found in groups.items()
            ]
        }

    def trackers_json(self) -> list[dict]:
        trackers = self.conversation.options.get("trackers") or []
        matches = language.detect_trackers(self.spoken, trackers)
        by_tracker: dict[str, dict[str, list[language.TrackerMatch]]] = defaultdict(lambda: defaultdict(list))
        for match in matches:
            by_tracker[match.tracker_name][match.value].append(match)
        insights_by_message = defaultdict(list)
        for insight in self.insights:
            insights_by_message[insight.message_id].append(insight)
        return [
            {
                "id": language.stable_id(self.id, "tracker", name),
                "name": name,
                "matches": [
                    {
                        "type": "vocabulary",
                        "value": value,
                        "messageRefs": [
                            {"id": match.message_id, "text": match.message_text, "offset": match.offset}
                            for match in found
                        ],
                        "insightRefs": [
                            {"id": insight.id, "type": insight.type, "text": insight.text, "offset": position}
                            for match in found
                            for insight in insights_by_message[match.message_id]
                            if (position := insight.text.lower().find(value.lower())) >= 0
                        ],
                    }
                    for value, found in values.items()
                ],
            }
            for name, values in by_tracker.items()
        ]

    def summary_json(self) -> dict:
        return {
            "summary": [
                {"id": sentence.id, "text": sentence.text, "messageRefs": [{"id": sentence.message_id}]}
                for sentence in language.summarize(self.spoken, self.id)
            ]
        }

    def analytics_json(self) -> dict:
        analytics = language.compute_analytics(self.spoken)
        members = []
        for stats in analytics.members:
            member = self._member(stats.speaker_id)
            identity = self._from(stats.speaker_id) if member else {"name": "Unknown Speaker"}
            overlap: dict = {}
            if stats.overlaps:
                overlap = {
                    "overlapDuration": stats.overlap_s,
                    "overlappingMembers": [
                        {**self._from(other.speaker_id), "percent": other.percent, "seconds": other.seconds}
                        for other in stats.overlaps
                    ],
                }
            members.append(
                {
                    **identity,
                    "pace": {"wpm": stats.wpm},
                    "talkTime": {"percentage": stats.talk_percent, "seconds": stats.talk_s},
                    "listenTime": {"percentage": stats.listen_percent, "seconds": stats.listen_s},
                    "overlap": overlap,
                }
            )
        duration = analytics.duration_s

        def metric(kind: str, seconds: float, whole: float) -> dict:
            return {"type": kind, "percent": round(100 * seconds / whole, 3) if whole > 0 else 0.0, "seconds": seconds}

        return {
            "metrics": [
                metric("total_silence", analytics.silence_s, duration),
                metric("total_talk_time", analytics.talk_s, duration),
                metric("total_overlap", analytics.overlap_s, analytics.talk_s),
            ],
            "members": members,
        }

    # ------------------------------------------------------------------------------------ transcript

    def transcript_json(self, request: Mapping[str, object]) -> dict:
        content_type = request.get("contentType") or "text/markdown"
        if content_type not in TRANSCRIPT_TYPES:
            raise RequestError(f"`contentType` must be one of {', '.join(TRANSCRIPT_TYPES)}")
        separate = request.get("showSpeakerSeparation", True) is not False
        payload = self._srt(separate) if content_type == "text/srt" else self._markdown(separate)
        return {"transcript": {"payload": payload, "contentType": content_type}}

    def _speaker(self, message: MessageRow) -> str:
        member = self._member(message.member_id)
        return member.name if member else "Unknown Speaker"

    def _markdown(self, separate: bool) -> str:
        if not separate:
            return " ".join(message.text for message in self.messages) + "\n"
        lines = [f"**{self._speaker(message)}:** {message.text}" for message in self.messages]
        return "\n\n".join(lines) + "\n"

    def _srt(self, separate: bool) -> str:
        def stamp(offset_s: float) -> str:
            millis = round(max(0.0, offset_s - self.start_s) * 1000)
            hours, rest = divmod(millis, 3_600_000)
            minutes, rest = divmod(rest, 60_000)
            return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d},{rest % 1000:03d}"

        cues = [
            f"{index}\n{stamp(message.start_s)} --> {stamp(message.end_s)}\n"
            + (f"{self._speaker(message)}: " if separate else "")
            + message.text
            for index, message in enumerate(self.messages, start=1)
        ]
        return "\n\n".join(cues) + "\n"
