//! What detectors emit, in the order they emit it.
//!
//! Detectors never write the report themselves: findings, events, connection records and
//! messages for the cross-connection detectors ([`super::Shared`]) go into an [`Outbox`] as
//! [`Item`]s, and one merger (`crate::analyze::merge`) applies them to the report in frame order.
//! With one thread the merger empties the outbox after every frame; with several shards it
//! interleaves their outboxes by the frame that caused each item, so that the report is the
//! same either way. Connection ids in items are provisional (the number of the frame that
//! opened the connection) until the merger numbers connections in the order they opened.
//!
//! A shard also keeps the `--timeline` events of its connections here, so that a connection's
//! timeline travels inside its record.

use super::Shared;
use crate::flow::ConnectionId;
use crate::flow::hash::{FastHashMap, FastHashSet, fast_hash_map, fast_hash_set};
use crate::report::{ConnectionRecord, Event, Finding, Subject};
use std::collections::BTreeMap;

/// The most items a shard's outbox reserves room for at the start of a batch.
const ROOM_KEPT: usize = 1024;

/// One thing emitted while analyzing, in emission order.
pub enum Item {
    /// The items after it were caused by the segment in frame `seq` (frames are numbered from
    /// 1 in the order they are read, over all inputs).
    Frame(u64),
    /// The items after it (up to and including its record) end connection `id`, at frame
    /// `seq` (`u64::MAX` at the end of input).
    End {
        seq: u64,
        id: ConnectionId,
    },
    /// A connection was opened under this provisional id.
    Opened(ConnectionId),
    Finding(Finding),
    Event(Event),
    Shared(Shared),
    /// Boxed: a record is several times the size of the other items.
    Record(Box<ConnectionRecord>),
    /// In place of a record the output does not need ([`crate::config::RecordsKept`]): the
    /// connection under this provisional id is over.
    Unrecorded(ConnectionId),
}

impl Item {
    /// Where a group of items starting with this marker goes in the merged order: by frame,
    /// the frame's own items before the connections it ended, those by id.
    pub fn group_key(&self) -> Option<(u64, u8, u64)> {
        match self {
            Item::Frame(seq) => Some((*seq, 0, 0)),
            Item::End { seq, id } => Some((*seq, 1, id.0)),
            _ => None,
        }
    }
}

pub struct Outbox {
    items: Vec<Item>,
    /// Kept by shards with `--timeline`: events of connections, until they end.
    timelines: Option<Timelines>,
    /// The merger writes events as JSON lines (`--format jsonl`).
    stream_events: bool,
    /// Events go somewhere (timelines or the stream): detectors skip building them otherwise.
    wants_events: bool,
}

impl Outbox {
    /// A shard's outbox: timelines of its connections stay here; their events are passed on
    /// only to be streamed.
    pub fn for_shard(timelines: Option<Timelines>, stream_events: bool) -> Outbox {
        Outbox {
            items: Vec::new(),
            wants_events: timelines.is_some() || stream_events,
            timelines,
            stream_events,
        }
    }

    /// Passes everything on (the merger's own outbox); `wants_events`: the merger keeps
    /// timelines or streams.
    pub fn pass_all(wants_events: bool) -> Outbox {
        Outbox {
            items: Vec::new(),
            timelines: None,
            stream_events: true,
            wants_events,
        }
    }

    pub fn wants_events(&self) -> bool {
        self.wants_events
    }

    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops the last item: a frame marker nothing followed.
    pub fn pop(&mut self) {
        self.items.pop();
    }

    /// Everything so far, for the merger. The next batch's items start in room for as many
    /// as this batch had, up to [`ROOM_KEPT`]: grown from nothing, batch after batch, the
    /// copies cost as much as a detector. Not more: a batch of pipelined requests has tens
    /// of thousands of items, and reserving as much again for the next one while three are
    /// in flight took a connection of a million of them from 56 to 62 MiB.
    pub fn take(&mut self) -> Vec<Item> {
        let room = Vec::with_capacity(self.items.len().min(ROOM_KEPT));
        std::mem::replace(&mut self.items, room)
    }

    pub fn drain(&mut self) -> std::vec::Drain<'_, Item> {
        self.items.drain(..)
    }

    pub fn finding(&mut self, finding: Finding) {
        if let Some(timelines) = self.timelines.as_mut()
            && matches!(finding.subject, Subject::Connection(_))
        {
            timelines.flag(finding.subject);
        }
        self.items.push(Item::Finding(finding));
    }

    pub fn event(&mut self, event: Event) {
        if !matches!(event.subject, Subject::Connection(_)) {
            // Timelines of other subjects (VRRP groups, hops) are the merger's.
            self.items.push(Item::Event(event));
            return;
        }
        let streamed = self.stream_events && event.kind != "data";
        if let Some(timelines) = self.timelines.as_mut() {
            if streamed {
                self.items.push(Item::Event(event.clone()));
            }
            timelines.add(event);
        } else if streamed {
            self.items.push(Item::Event(event));
        }
    }

    /// The connection's timeline, to go in its record (empty unless it should be printed).
    pub fn take_timeline(&mut self, subject: Subject, all: bool) -> Vec<Event> {
        self.timelines
            .as_mut()
            .map(|timelines| timelines.take(subject, all))
            .unwrap_or_default()
    }
}

/// Events kept per subject for `--timeline`, and which subjects got a finding.
pub struct Timelines {
    by_subject: FastHashMap<Subject, Timeline>,
    flagged: FastHashSet<Subject>,
    max_events: usize,
}

#[derive(Default)]
struct Timeline {
    events: Vec<Event>,
    dropped: u64,
}

impl Timelines {
    pub fn new(max_events: usize) -> Timelines {
        Timelines {
            by_subject: fast_hash_map(),
            flagged: fast_hash_set(),
            max_events,
        }
    }

    pub fn flag(&mut self, subject: Subject) {
        self.flagged.insert(subject);
    }

    /// Keeps an event; consecutive data segments from one side become one run.
    pub fn add(&mut self, event: Event) {
        let timeline = self.by_subject.entry(event.subject).or_default();
        if let Some(last) = timeline.events.last_mut()
            && event.kind == "data"
            && last.kind == "data"
            && last.from == event.from
        {
            last.count += 1;
            last.bytes += event.bytes;
            return;
        }
        if timeline.events.len() < self.max_events {
            timeline.events.push(event);
        } else {
            timeline.dropped += 1;
        }
    }

    /// Removes and returns a subject's timeline when it should be printed (it has a finding,
    /// or `all` is set); otherwise just drops it.
    pub fn take(&mut self, subject: Subject, all: bool) -> Vec<Event> {
        let timeline = self.by_subject.remove(&subject).unwrap_or_default();
        let flagged = self.flagged.remove(&subject);
        if !(all || flagged) {
            return Vec::new();
        }
        let mut events = timeline.events;
        if timeline.dropped > 0
            && let Some(last) = events.last()
        {
            let note = Event::new(
                last.ts,
                subject,
                "timeline-truncated",
                format!("{} more events not kept", timeline.dropped),
            );
            events.push(note);
        }
        events
    }

    /// Every timeline left, by subject (at the end: those of VRRP groups and hops).
    pub fn take_remaining(&mut self, all: bool) -> BTreeMap<Subject, Vec<Event>> {
        let subjects: Vec<Subject> = self.by_subject.keys().copied().collect();
        subjects
            .into_iter()
            .map(|subject| (subject, self.take(subject, all)))
            .filter(|(_, events)| !events.is_empty())
            .collect()
    }
}
