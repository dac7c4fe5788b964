//! The HTTP/1.x story of one TCP connection: both directions reassembled and framed, requests
//! paired with responses in order (pipelining, RFC 9112 §9.3.2), 1xx interim responses
//! (RFC 9110 §15.2) kept apart from final ones, and each exchange's persistence decided.
//!
//! Response framing needs the request (HEAD, CONNECT) and the status (1xx, 204, 304), so
//! requests wait in a queue until answered; a 2xx to CONNECT or a 101 ends parsing (tunnel),
//! and so does the HTTP/2 preface. Memory per connection: two message-head buffers, at most
//! [`MAX_PENDING_REQUESTS`] unanswered requests and [`MAX_EXCHANGES_KEPT`] exchange records.

use super::parser::{Event, Framing, Head, MessageParser, Role, StartLine, Text, version_text};
use super::persistence::{self, Persistence, Rule};
use super::reassembly::{Reassembler, StreamSink};
use crate::flow::Side;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::sync::Arc;

/// Exchanges kept per connection for `connections[].http.exchanges` (later ones are counted).
pub const MAX_EXCHANGES_KEPT: usize = 100;
/// Requests waiting for their response; past this, later requests are only counted, and their
/// responses are known to answer a request that was not kept (pairing stays in order).
pub const MAX_PENDING_REQUESTS: usize = 1024;
/// Parsing problems kept per connection.
const MAX_NOTES: usize = 8;

/// One request and its response, as reported: 56 bytes, kept for every request of every open
/// connection (up to [`MAX_EXCHANGES_KEPT`] each). The method and the `Connection` and
/// `Keep-Alive` values are references into the connection's [`Texts`].
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    pub method: TextRef,
    /// The target as received with `--show-secrets`; otherwise already redacted
    /// ([`redacted_target`]).
    pub target: Option<Text>,
    /// HTTP/1.x minor version (a byte instead of the text, which is 16 bytes per field).
    pub request_minor_version: Option<u8>,
    pub request_connection: TextRef,
    pub request_keep_alive: TextRef,
    /// When the request was read, or for a response that answered no request read (the
    /// capture began after it), when the response was: the exchange's `ts`. A response's
    /// own time is not reported, so it is not kept.
    pub ts: Option<Timestamp>,
    pub status: Option<u16>,
    pub response_minor_version: Option<u8>,
    pub response_connection: TextRef,
    pub response_keep_alive: TextRef,
    pub interim: Interim,
    pub persistence: Option<(Persistence, Rule)>,
}

/// A request target without what may carry secrets: the query and fragment, and the userinfo
/// of an absolute URI (shown only with `--show-secrets`). Built from the borrowed target, so
/// a redacted target short enough to be kept inline costs no allocation.
pub fn redacted_target(target: &str) -> Text {
    // Byte scans rather than `find` with a char set and `split_once("://")`: a request head
    // is parsed for every request, and those searchers cost more to set up than the usual
    // twenty-byte path costs to scan.
    let end = target
        .bytes()
        .position(|byte| byte == b'?' || byte == b'#')
        .unwrap_or(target.len());
    let path = target.get(..end).unwrap_or(target);
    if let Some((scheme, rest)) = split_at_scheme_separator(path) {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((_, host)) = authority.rsplit_once('@') {
            return compact_str::format_compact!("{scheme}://{host}{tail}");
        }
    }
    Text::from(path)
}

/// `path` split around its first `://`, as `split_once("://")` would.
fn split_at_scheme_separator(path: &str) -> Option<(&str, &str)> {
    let bytes = path.as_bytes();
    let colon = bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b':')
        .map(|(at, _)| at)
        .find(|at| bytes.get(at + 1..at + 3) == Some(b"//"))?;
    Some((path.get(..colon)?, path.get(colon + 3..)?))
}

/// A text kept in a connection's [`Texts`] (`None`: the field was absent).
pub type TextRef = Option<NonZeroU16>;

/// The distinct methods and `Connection`/`Keep-Alive` values of one connection's exchanges,
/// each kept once: a connection repeats the same few (`GET`, `keep-alive`, `timeout=5`), and
/// four 24-byte copies per exchange were most of an exchange's size. The most common values
/// are not kept at all ([`WELL_KNOWN_TEXTS`]). At most five texts per kept exchange, so at
/// most 500 of a connection's own (a u16 reference always fits, a lookup is bounded).
#[derive(Clone, Debug, Default)]
pub struct Texts {
    list: Vec<Text>,
}

/// Defines [`WELL_KNOWN_TEXTS`] and [`well_known_index`] from one list (a test checks that
/// each text is found at its own index). The index is a `match` on the string, which the
/// compiler turns into a switch on the length and one comparison: a linear search through
/// the `Text`s cost 166 instructions per lookup, and every request and response looks up
/// three or four.
macro_rules! well_known_texts {
    ($(#[$attribute:meta])* $($index:literal => $text:literal,)*) => {
        $(#[$attribute])*
        static WELL_KNOWN_TEXTS: [Text; [$($text),*].len()] = [$(Text::const_new($text)),*];

        fn well_known_index(text: &str) -> Option<u16> {
            match text {
                $($text => Some($index),)*
                _ => None,
            }
        }
    };
}

well_known_texts! {
    /// Texts that most exchanges carry, referred to without a copy per connection: the common
    /// methods, and the `Connection` and `Keep-Alive` values that nginx, Apache, HAProxy, curl
    /// and browsers send. Compared exactly (case included), so the output still shows what was on
    /// the wire.
    0 => "GET",
    1 => "POST",
    2 => "HEAD",
    3 => "PUT",
    4 => "DELETE",
    5 => "OPTIONS",
    6 => "PATCH",
    7 => "CONNECT",
    8 => "keep-alive",
    9 => "close",
    10 => "Keep-Alive",
    11 => "Close",
    12 => "upgrade",
    13 => "Upgrade",
    14 => "keep-alive, Upgrade",
    15 => "timeout=5",
    16 => "timeout=5, max=100",
    17 => "timeout=5, max=1000",
    18 => "timeout=15",
    19 => "timeout=20",
    20 => "timeout=30",
    21 => "timeout=60",
    22 => "timeout=65",
    23 => "timeout=75",
}

/// References from this one up are to [`WELL_KNOWN_TEXTS`]; below, to a connection's own.
const FIRST_WELL_KNOWN_REFERENCE: u16 = 0xFF00;

impl Texts {
    fn keep(&mut self, text: Option<&Text>) -> TextRef {
        let text = text?;
        if let Some(index) = well_known_index(text) {
            return NonZeroU16::new(FIRST_WELL_KNOWN_REFERENCE + index);
        }
        let position = match self.list.iter().position(|kept| kept == text) {
            Some(position) => position,
            None => {
                self.list.push(text.clone());
                self.list.len() - 1
            }
        };
        u16::try_from(position + 1).ok().and_then(NonZeroU16::new)
    }

    pub fn get(&self, reference: TextRef) -> Option<&Text> {
        let reference = reference?.get();
        match reference.checked_sub(FIRST_WELL_KNOWN_REFERENCE) {
            Some(index) => WELL_KNOWN_TEXTS.get(usize::from(index)),
            None => self.list.get(usize::from(reference) - 1),
        }
    }
}

impl Exchange {
    pub fn request_version(&self) -> Option<&'static str> {
        self.request_minor_version.map(version_text)
    }

    pub fn response_version(&self) -> Option<&'static str> {
        self.response_minor_version.map(version_text)
    }
}

/// Statuses of 1xx responses before the final one, at most [`Interim::KEPT`], inline in 4
/// bytes: an exchange is kept for every request of every open connection. Each is kept as
/// its distance from 99 (1 for 100 … 100 for 199), so that 0 marks a free slot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interim {
    statuses: [u8; Interim::KEPT],
}

impl Interim {
    const KEPT: usize = 4;

    /// Keeps `status` if it is a 1xx and a slot is free.
    fn push(&mut self, status: u16) {
        let code = status
            .checked_sub(99)
            .and_then(|code| u8::try_from(code).ok())
            .filter(|code| (1..=100).contains(code));
        let free = self.statuses.iter_mut().find(|slot| **slot == 0);
        if let (Some(code), Some(slot)) = (code, free) {
            *slot = code;
        }
    }

    fn statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.statuses
            .iter()
            .take_while(|code| **code != 0)
            .map(|code| u16::from(*code) + 99)
    }
}

/// A JSON array of the statuses kept.
impl serde::Serialize for Interim {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.statuses())
    }
}

struct PendingRequest {
    head: Arc<Head>,
    exchange: Option<usize>,
    /// Position of the request on the connection (0 = first).
    index: u64,
    ts: Timestamp,
}

/// Requests waiting for their final response, oldest first. Almost every connection has
/// none or one: the queue is a box holding the first inline, so an idle connection keeps 8
/// bytes for it and a waiting one a single allocation (a `VecDeque` is 32 bytes inline, and
/// its first push allocated room for four requests).
#[derive(Default)]
struct PendingQueue(Option<Box<Waiting>>);

struct Waiting {
    first: PendingRequest,
    /// Pipelined requests behind the first; released with the box when the last is answered.
    rest: VecDeque<PendingRequest>,
}

impl PendingQueue {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |waiting| 1 + waiting.rest.len())
    }

    fn front(&self) -> Option<&PendingRequest> {
        self.0.as_ref().map(|waiting| &waiting.first)
    }

    fn push_back(&mut self, request: PendingRequest) {
        match &mut self.0 {
            Some(waiting) => waiting.rest.push_back(request),
            None => {
                self.0 = Some(Box::new(Waiting {
                    first: request,
                    rest: VecDeque::new(),
                }))
            }
        }
    }

    fn pop_front(&mut self) -> Option<PendingRequest> {
        let waiting = self.0.as_mut()?;
        match waiting.rest.pop_front() {
            Some(next) => Some(std::mem::replace(&mut waiting.first, next)),
            None => self.0.take().map(|waiting| waiting.first),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &PendingRequest> {
        self.0
            .iter()
            .flat_map(|waiting| std::iter::once(&waiting.first).chain(waiting.rest.iter()))
    }
}

/// A request just read, handed to hop matching.
pub struct RequestNote {
    pub ts: Timestamp,
    pub head: Arc<Head>,
}

/// A request that never got a final response.
#[derive(Clone, Copy, Debug)]
pub struct Unanswered {
    pub index: u64,
    pub ts: Timestamp,
}

/// A parsing problem on one connection (`connections[].http.notes[]`), kept as what happened
/// and written out as text only with the record: a connection of another protocol gets two
/// (one per direction) and is usually dropped unreported (`HttpDetector::other_protocol`),
/// and formatting them as they happened was 4 % of the run on a TLS load balancer's capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// Bytes of `side` that cannot be read as HTTP/1.x, and why.
    NotHttp {
        side: Side,
        reason: &'static str,
    },
    /// A hole of `length` bytes in a head of `side`.
    HeadNotCaptured {
        side: Side,
        length: u64,
    },
    HeadTooLarge {
        side: Side,
    },
    RequestLengthInvalid,
    ResponseLengthInvalid,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Note::NotHttp { side, reason } => write!(f, "{}: {reason}", side_name(side)),
            Note::HeadNotCaptured { side, length } => write!(
                f,
                "{length} bytes from the {} were not captured inside a message head; parsing resumed at the next message",
                side_name(side)
            ),
            Note::HeadTooLarge { side } => write!(
                f,
                "{}: a message head exceeded {} KiB; parsing resumed at the next message",
                side_name(side),
                super::parser::MAX_HEAD_BYTES / 1024
            ),
            Note::RequestLengthInvalid => f.write_str("client: invalid Content-Length"),
            Note::ResponseLengthInvalid => f.write_str(
                "server: invalid Content-Length; the rest of the response stream is skipped",
            ),
        }
    }
}

/// A JSON string: the note's text.
impl serde::Serialize for Note {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The part of a [`Story`] that few connections have.
#[derive(Default)]
pub struct Uncommon {
    pub tunnel: Option<String>,
    pub notes: Vec<Note>,
    /// Requests after a full `pending` queue, answered in order after every queued one.
    requests_not_queued: u64,
    /// Exchanges past [`MAX_EXCHANGES_KEPT`], counted only.
    pub exchanges_omitted: u64,
}

/// Everything known about one connection's HTTP.
pub struct Story {
    client: MessageParser,
    server: MessageParser,
    pending: PendingQueue,
    pub exchanges: Vec<Exchange>,
    pub texts: Texts,
    pub requests: u64,
    pub responses: u64,
    pub h2: bool,
    pub last_response_end: Option<Timestamp>,
    pub kept: u64,
    pub declined: u64,
    pub not_offered: u64,
    pub first_decision: Option<(Persistence, Rule)>,
    /// Whether the first request offered persistence (for connections never answered).
    pub first_offer: Option<bool>,
    pub last_decision: Option<(Persistence, Rule)>,
    /// The first declined exchange: its position and the rule.
    pub first_declined: Option<(u64, Rule)>,
    pub server_software: Option<Text>,
    /// The client sends `Via` / `X-Forwarded-For`: it is a proxy.
    pub client_is_proxy: bool,
    pub not_http: bool,
    /// What few connections have, behind one pointer (8 bytes instead of 64 on every
    /// connection); `None` until the first of it.
    pub uncommon: Option<Box<Uncommon>>,
    /// Targets are kept without what may carry secrets (`--show-secrets` off): the query
    /// would only be dropped at output, and it is what makes most targets too long to be
    /// kept inline.
    redact_targets: bool,
}

/// Reassembly plus the story, kept apart so the stream can feed the story.
pub struct Conversation {
    client_stream: Reassembler,
    server_stream: Reassembler,
    pub story: Story,
}

impl Conversation {
    /// `show_secrets`: keep request targets whole (`--show-secrets`); otherwise they are
    /// kept redacted ([`redacted_target`]).
    pub fn new(show_secrets: bool) -> Conversation {
        Conversation {
            client_stream: Reassembler::default(),
            server_stream: Reassembler::default(),
            story: Story::new(!show_secrets),
        }
    }

    /// One segment's payload from `side`.
    pub fn push(
        &mut self,
        side: Side,
        ts: Timestamp,
        position: u64,
        captured: &[u8],
        wire_length: u32,
        fresh: &mut Fresh,
    ) {
        if self.story.is_finished() {
            return;
        }
        let stream = match side {
            Side::Client => &mut self.client_stream,
            Side::Server => &mut self.server_stream,
        };
        let mut feed = Feed {
            story: &mut self.story,
            fresh,
            side,
            ts,
        };
        stream.push(position, captured, wire_length, &mut feed);
    }

    /// The connection is over at `close_ts`: flush what waits behind holes and end a
    /// close-delimited response.
    pub fn finish(&mut self, close_ts: Timestamp, fresh: &mut Fresh) {
        for side in [Side::Client, Side::Server] {
            let stream = match side {
                Side::Client => &mut self.client_stream,
                Side::Server => &mut self.server_stream,
            };
            let mut feed = Feed {
                story: &mut self.story,
                fresh: &mut *fresh,
                side,
                ts: close_ts,
            };
            stream.finish(&mut feed);
        }
        if self.story.server.end_of_stream().is_some() {
            self.story.last_response_end = Some(close_ts);
        }
    }

    /// Both directions began, at their first byte and without a hole, with bytes that cannot
    /// begin an HTTP/1.x message (TLS, SSH, a database protocol): nothing was read and,
    /// short of a later segment that happens to look like a start line, nothing will be.
    pub fn opened_as_another_protocol(&self) -> bool {
        let story = &self.story;
        let stream_opened_unread = |stream: &Reassembler, parser: &MessageParser| {
            stream.from_stream_start && stream.gaps == 0 && parser.is_lost()
        };
        story.not_http
            && story.requests == 0
            && story.responses == 0
            && !story.h2
            && stream_opened_unread(&self.client_stream, &story.client)
            && stream_opened_unread(&self.server_stream, &story.server)
    }

    pub fn gaps(&self) -> u32 {
        self.client_stream.gaps + self.server_stream.gaps
    }
}

/// Messages read since the detector last looked (for hop matching and counters). One per
/// detector, not per connection: it is emptied after every segment, and its capacity is
/// reused.
#[derive(Default)]
pub struct Fresh {
    pub requests: Vec<RequestNote>,
    pub responses: u64,
}

struct Feed<'a> {
    story: &'a mut Story,
    fresh: &'a mut Fresh,
    side: Side,
    ts: Timestamp,
}

impl StreamSink for Feed<'_> {
    fn data(&mut self, bytes: &[u8]) {
        self.story.on_data(self.side, self.ts, bytes, self.fresh);
    }

    fn gap(&mut self, length: u64) {
        self.story.on_gap(self.side, self.ts, length, self.fresh);
    }
}

impl Story {
    fn new(redact_targets: bool) -> Story {
        Story {
            client: MessageParser::new(Role::Request),
            server: MessageParser::new(Role::Response),
            pending: PendingQueue::default(),
            exchanges: Vec::new(),
            texts: Texts::default(),
            requests: 0,
            responses: 0,
            h2: false,
            last_response_end: None,
            kept: 0,
            declined: 0,
            not_offered: 0,
            first_decision: None,
            first_offer: None,
            last_decision: None,
            first_declined: None,
            server_software: None,
            client_is_proxy: false,
            uncommon: None,
            not_http: false,
            redact_targets,
        }
    }

    /// Nothing more will be parsed (tunnel, HTTP/2, or not HTTP in either direction).
    fn is_finished(&self) -> bool {
        (self.h2 || self.tunnel().is_some()) && self.client.is_tunnel() && self.server.is_tunnel()
    }

    fn uncommon(&mut self) -> &mut Uncommon {
        self.uncommon.get_or_insert_default()
    }

    /// `upgrade:PROTOCOL` or `connect`: the rest of the connection was not HTTP/1.
    pub fn tunnel(&self) -> Option<&str> {
        self.uncommon.as_ref()?.tunnel.as_deref()
    }

    pub fn notes(&self) -> &[Note] {
        self.uncommon
            .as_ref()
            .map_or(&[], |uncommon| &uncommon.notes)
    }

    fn requests_not_queued(&self) -> u64 {
        self.uncommon
            .as_ref()
            .map_or(0, |uncommon| uncommon.requests_not_queued)
    }

    fn parser(&mut self, side: Side) -> &mut MessageParser {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Requests still waiting for a final response.
    pub fn unanswered(&self) -> Vec<Unanswered> {
        self.pending
            .iter()
            .map(|p| Unanswered {
                index: p.index,
                ts: p.ts,
            })
            .collect()
    }

    fn note(&mut self, note: Note) {
        let notes = &mut self.uncommon().notes;
        if notes.len() < MAX_NOTES {
            notes.push(note);
        }
    }

    fn on_gap(&mut self, side: Side, ts: Timestamp, length: u64, fresh: &mut Fresh) {
        let was_lost = self.parser(side).is_lost();
        let event = self.parser(side).gap(length);
        if let Some(event) = event {
            self.on_event(side, ts, event, fresh);
        }
        if !was_lost && self.parser(side).is_lost() {
            self.note(Note::HeadNotCaptured { side, length });
        }
    }

    fn on_data(&mut self, side: Side, ts: Timestamp, bytes: &[u8], fresh: &mut Fresh) {
        let parser = self.parser(side);
        if parser.is_lost() && !parser.try_resync(bytes) {
            return;
        }
        let mut input = bytes;
        while !input.is_empty() {
            let step = self.parser(side).feed(input);
            input = input.get(step.consumed..).unwrap_or_default();
            match step.event {
                Some(event) => self.on_event(side, ts, event, fresh),
                None if step.consumed == 0 => break,
                None => {}
            }
        }
    }

    fn on_event(&mut self, side: Side, ts: Timestamp, event: Event, fresh: &mut Fresh) {
        match (event, side) {
            (Event::Head(head), Side::Client) => self.on_request(ts, head, fresh),
            (Event::Head(head), Side::Server) => self.on_response(ts, head, fresh),
            (Event::MessageEnd, Side::Server) => self.last_response_end = Some(ts),
            (Event::MessageEnd, Side::Client) => {}
            (Event::H2Preface, _) => {
                self.h2 = true;
                self.client.stop();
                self.server.stop();
            }
            (Event::NotHttp(reason), side) => {
                if self.requests == 0 && self.responses == 0 {
                    self.not_http = true;
                }
                self.note(Note::NotHttp { side, reason });
            }
            (Event::HeadTooLarge, side) => self.note(Note::HeadTooLarge { side }),
        }
    }

    fn on_request(&mut self, ts: Timestamp, head: Arc<Head>, fresh: &mut Fresh) {
        self.requests += 1;
        self.not_http = false;
        self.client_is_proxy |= head.via || head.forwarded_for;
        self.first_offer
            .get_or_insert(persistence::offered(&head).is_ok());
        let exchange = self.start_exchange(ts, &head);
        let is_connect = matches!(&head.start, StartLine::Request { method, .. } if method.eq_ignore_ascii_case("CONNECT"));
        let framing = if is_connect {
            Framing::Tunnel
        } else if head.chunked {
            Framing::Chunked
        } else if let Some(length) = head.content_length {
            Framing::Length(length)
        } else {
            Framing::None
        };
        if head.length_invalid {
            self.note(Note::RequestLengthInvalid);
        }
        self.client.set_framing(framing);
        fresh.requests.push(RequestNote {
            ts,
            head: Arc::clone(&head),
        });
        // Once one request was not queued, later ones are not either: they are answered after it.
        if self.requests_not_queued() > 0 || self.pending.len() >= MAX_PENDING_REQUESTS {
            self.uncommon().requests_not_queued += 1;
        } else {
            self.pending.push_back(PendingRequest {
                head,
                exchange,
                index: self.requests - 1,
                ts,
            });
        }
    }

    fn start_exchange(&mut self, ts: Timestamp, head: &Head) -> Option<usize> {
        if self.exchanges.len() >= MAX_EXCHANGES_KEPT {
            self.uncommon().exchanges_omitted += 1;
            return None;
        }
        let (method, target) = match &head.start {
            StartLine::Request { method, target } => {
                let kept = if self.redact_targets {
                    redacted_target(target)
                } else {
                    target.clone()
                };
                (Some(method), Some(kept))
            }
            StartLine::Response { .. } => (None, None),
        };
        reserve_for_one_more(&mut self.exchanges);
        self.exchanges.push(Exchange {
            method: self.texts.keep(method),
            target,
            request_minor_version: Some(head.minor_version),
            request_connection: self.texts.keep(head.connection.as_ref()),
            request_keep_alive: self.texts.keep(head.keep_alive.as_ref()),
            ts: Some(ts),
            ..Exchange::default()
        });
        Some(self.exchanges.len() - 1)
    }

    fn on_response(&mut self, ts: Timestamp, head: Arc<Head>, fresh: &mut Fresh) {
        self.responses += 1;
        fresh.responses += 1;
        self.not_http = false;
        if self.server_software.is_none() {
            self.server_software = head.server.clone();
        }
        let StartLine::Response { status } = head.start else {
            return;
        };
        if (100..200).contains(&status) && status != 101 {
            self.on_interim(status);
            if let Some(end) = self.server.set_framing(Framing::None) {
                self.on_event(Side::Server, ts, end, fresh);
            }
            return;
        }
        let request = self.pending.pop_front();
        // The response to a request past the queue cap: not a response without a request.
        let answers_unqueued = request.is_none() && self.requests_not_queued() > 0;
        if answers_unqueued {
            self.uncommon().requests_not_queued -= 1;
        }
        let framing = self.response_framing(request.as_ref().map(|r| &*r.head), &head, status);
        let decision = persistence::decide(
            request.as_ref().map(|r| &*r.head),
            &head,
            framing == Framing::UntilClose,
        );
        // A tunnel is not HTTP any more: persistence does not apply.
        let decision = (framing != Framing::Tunnel).then_some(decision);
        if let Some(decision) = decision {
            self.record_decision(decision, request.as_ref().map(|r| r.index));
        }
        let exchange = match request.as_ref().and_then(|r| r.exchange) {
            Some(index) => Some(index),
            None if request.is_none() && !answers_unqueued => self.start_response_only_exchange(ts),
            None => None,
        };
        if let Some(record) = exchange.and_then(|index| self.exchanges.get_mut(index)) {
            record.status = Some(status);
            record.response_minor_version = Some(head.minor_version);
            record.response_connection = self.texts.keep(head.connection.as_ref());
            record.response_keep_alive = self.texts.keep(head.keep_alive.as_ref());
            record.persistence = decision;
        }
        if framing == Framing::Tunnel {
            self.client.stop();
        }
        if let Some(end) = self.server.set_framing(framing) {
            self.on_event(Side::Server, ts, end, fresh);
        }
    }

    fn start_response_only_exchange(&mut self, ts: Timestamp) -> Option<usize> {
        if self.exchanges.len() >= MAX_EXCHANGES_KEPT {
            self.uncommon().exchanges_omitted += 1;
            return None;
        }
        reserve_for_one_more(&mut self.exchanges);
        self.exchanges.push(Exchange {
            ts: Some(ts),
            ..Exchange::default()
        });
        Some(self.exchanges.len() - 1)
    }

    fn on_interim(&mut self, status: u16) {
        let exchange = self.pending.front().and_then(|p| p.exchange);
        if let Some(record) = exchange.and_then(|index| self.exchanges.get_mut(index)) {
            record.interim.push(status);
        }
    }

    /// RFC 9112 §6.3, in its order; also marks tunnels.
    fn response_framing(
        &mut self,
        request: Option<&Head>,
        response: &Head,
        status: u16,
    ) -> Framing {
        let method = match request.map(|r| &r.start) {
            Some(StartLine::Request { method, .. }) => method.as_str(),
            _ => "",
        };
        if status == 101 {
            let protocol = response.upgrade.clone().unwrap_or_else(|| "unknown".into());
            self.h2 |= protocol.to_ascii_lowercase().starts_with("h2c");
            self.uncommon().tunnel = Some(format!("upgrade:{}", protocol.to_ascii_lowercase()));
            return Framing::Tunnel;
        }
        if method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status) {
            self.uncommon().tunnel = Some("connect".into());
            return Framing::Tunnel;
        }
        if method.eq_ignore_ascii_case("CONNECT") {
            // A refused CONNECT: the client's side was stopped at the request; resume it.
            self.client.set_framing(Framing::None);
        }
        if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
            return Framing::None;
        }
        if response.chunked {
            Framing::Chunked
        } else if response.other_transfer_coding {
            Framing::UntilClose
        } else if response.length_invalid {
            self.note(Note::ResponseLengthInvalid);
            Framing::UntilClose
        } else if let Some(length) = response.content_length {
            Framing::Length(length)
        } else {
            Framing::UntilClose
        }
    }

    fn record_decision(&mut self, decision: (Persistence, Rule), index: Option<u64>) {
        match decision.0 {
            Persistence::Kept => self.kept += 1,
            Persistence::Declined => {
                self.declined += 1;
                if self.first_declined.is_none() {
                    self.first_declined = Some((index.unwrap_or(self.responses - 1), decision.1));
                }
            }
            Persistence::NotOffered => self.not_offered += 1,
        }
        self.first_decision.get_or_insert(decision);
        self.last_decision = Some(decision);
    }
}

/// Grows a connection's exchange list one at a time up to eight, then by doubling. Most
/// connections carry a few requests, and `Vec`'s first allocation (four exchanges of 200
/// bytes) and doubling left a third of the exchange memory of a busy capture unused.
fn reserve_for_one_more(exchanges: &mut Vec<Exchange>) {
    const EXACT_UP_TO: usize = 8;
    if exchanges.len() == exchanges.capacity() && exchanges.len() < EXACT_UP_TO {
        exchanges.reserve_exact(1);
    }
}

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    const SERVER_HELLO: &[u8] = b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56";

    fn opened_with(client: (u64, &[u8]), server: (u64, &[u8])) -> bool {
        let mut conversation = Conversation::new(false);
        let mut fresh = Fresh::default();
        let ts = Timestamp::from_nanos(0);
        for (side, (position, bytes)) in [(Side::Client, client), (Side::Server, server)] {
            let length = bytes.len() as u32;
            conversation.push(side, ts, position, bytes, length, &mut fresh);
        }
        conversation.opened_as_another_protocol()
    }

    /// Only both directions unreadable from their first byte make a connection another
    /// protocol's: an HTTP answer to bytes that are not HTTP (a TLS client at a plain HTTP
    /// server) is still read, and so is a capture that starts mid-stream.
    #[test]
    fn another_protocol_needs_both_directions_unreadable_from_their_first_byte() {
        assert!(opened_with((0, CLIENT_HELLO), (0, SERVER_HELLO)));
        let bad_request = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert!(!opened_with((0, CLIENT_HELLO), (0, bad_request)));
        assert!(!opened_with(
            (0, b"GET / HTTP/1.1\r\n\r\n"),
            (0, SERVER_HELLO)
        ));
        assert!(!opened_with((1460, CLIENT_HELLO), (0, SERVER_HELLO)));
        assert!(!opened_with((0, CLIENT_HELLO), (2920, SERVER_HELLO)));
        assert!(!opened_with(
            (0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            (0, SERVER_HELLO)
        ));
    }

    #[test]
    fn targets_lose_query_fragment_and_userinfo_only() {
        let redacted = |target: &str| super::redacted_target(target).to_string();
        assert_eq!(redacted("/login?token=s3cr3t#top"), "/login");
        assert_eq!(redacted("/plain/path"), "/plain/path");
        assert_eq!(redacted("/#frag?x"), "/");
        assert_eq!(
            redacted("http://user:pw@example.com/a?b=c"),
            "http://example.com/a"
        );
        assert_eq!(
            redacted("http://example.com:8080/a"),
            "http://example.com:8080/a"
        );
        assert_eq!(redacted("http://user@example.com"), "http://example.com");
        assert_eq!(redacted("/a:b/c:/d?e"), "/a:b/c:/d");
        assert_eq!(redacted("/x:/y://u@h/p"), "/x:/y://h/p");
        assert_eq!(redacted("http:"), "http:");
    }

    #[test]
    fn texts_are_kept_once_and_read_back_by_reference() {
        let mut texts = Texts::default();
        let keep_alive = texts.keep(Some(&Text::from("Keep-Alive, TE")));
        let close = texts.keep(Some(&Text::from("timeout=7")));
        assert_eq!(texts.keep(Some(&Text::from("Keep-Alive, TE"))), keep_alive);
        assert_eq!(texts.keep(None), None);
        assert_ne!(keep_alive, close);
        assert_eq!(texts.list.len(), 2);
        assert_eq!(texts.get(close).map(Text::as_str), Some("timeout=7"));
        assert_eq!(texts.get(None), None);
    }

    #[test]
    fn every_well_known_text_is_found_at_its_own_index() {
        for (index, text) in WELL_KNOWN_TEXTS.iter().enumerate() {
            assert_eq!(
                well_known_index(text).map(usize::from),
                Some(index),
                "{text}"
            );
        }
        assert_eq!(well_known_index("Get"), None);
    }

    #[test]
    fn well_known_texts_cost_a_connection_nothing_and_keep_their_case() {
        let mut texts = Texts::default();
        let lower = texts.keep(Some(&Text::from("keep-alive")));
        let capitalized = texts.keep(Some(&Text::from("Keep-Alive")));
        let method = texts.keep(Some(&Text::from("GET")));
        assert!(texts.list.is_empty());
        assert_ne!(lower, capitalized);
        assert_eq!(texts.get(lower).map(Text::as_str), Some("keep-alive"));
        assert_eq!(texts.get(capitalized).map(Text::as_str), Some("Keep-Alive"));
        assert_eq!(texts.get(method).map(Text::as_str), Some("GET"));
        let own = texts.keep(Some(&Text::from("get")));
        assert_eq!(
            texts.list.len(),
            1,
            "a method in another case is the connection's own"
        );
        assert_eq!(texts.get(own).map(Text::as_str), Some("get"));
    }

    #[test]
    fn interim_statuses_keep_every_1xx_in_order_up_to_four() {
        let mut interim = Interim::default();
        assert_eq!(interim.statuses().count(), 0);
        for status in [100, 0, 99, 200, 103, 199, 102, 100, 101] {
            interim.push(status);
        }
        // Not a 1xx: not kept; past four: not kept.
        assert_eq!(
            interim.statuses().collect::<Vec<_>>(),
            vec![100, 103, 199, 102]
        );
        assert_eq!(
            serde_json::to_string(&interim).ok().as_deref(),
            Some("[100,103,199,102]")
        );
    }

    #[test]
    fn notes_read_as_they_did_when_they_were_formatted_on_the_spot() {
        let texts: Vec<String> = [
            Note::NotHttp {
                side: Side::Client,
                reason: "the stream does not start with an HTTP/1.x start line",
            },
            Note::HeadNotCaptured {
                side: Side::Server,
                length: 1448,
            },
            Note::HeadTooLarge { side: Side::Client },
            Note::RequestLengthInvalid,
            Note::ResponseLengthInvalid,
        ]
        .iter()
        .map(|note| serde_json::to_string(note).unwrap_or_default())
        .collect();
        assert_eq!(
            texts,
            [
                r#""client: the stream does not start with an HTTP/1.x start line""#,
                r#""1448 bytes from the server were not captured inside a message head; parsing resumed at the next message""#,
                r#""client: a message head exceeded 64 KiB; parsing resumed at the next message""#,
                r#""client: invalid Content-Length""#,
                r#""server: invalid Content-Length; the rest of the response stream is skipped""#,
            ]
        );
    }

    #[test]
    fn an_exchange_stays_small() {
        // Kept for every request of every open connection (docs/performance.md, Memory).
        assert!(std::mem::size_of::<Exchange>() <= 56);
    }

    #[test]
    fn pending_requests_leave_in_the_order_they_came() {
        let step = MessageParser::new(Role::Request).feed(b"GET / HTTP/1.1\r\n\r\n");
        let Some(Event::Head(head)) = step.event else {
            panic!("a request head");
        };
        let request = |index: u64| PendingRequest {
            head: Arc::clone(&head),
            exchange: None,
            index,
            ts: Timestamp::from_nanos(0),
        };
        let mut queue = PendingQueue::default();
        let mut model = VecDeque::new();
        let mut next = 0;
        // Pushes and pops in runs of every length, against a VecDeque.
        for round in 0..40u64 {
            for _ in 0..round % 7 {
                queue.push_back(request(next));
                model.push_back(next);
                next += 1;
            }
            for _ in 0..round % 5 {
                assert_eq!(queue.pop_front().map(|r| r.index), model.pop_front());
            }
            assert_eq!(queue.len(), model.len());
            assert_eq!(queue.front().map(|r| r.index), model.front().copied());
            let order: Vec<u64> = queue.iter().map(|r| r.index).collect();
            assert_eq!(order, Vec::from(model.clone()));
            assert_eq!(queue.0.is_none(), model.is_empty(), "no box while empty");
        }
    }

    #[test]
    fn a_conversation_stays_small() {
        // One per open HTTP connection; the rare parts live in `Uncommon`.
        assert!(std::mem::size_of::<Conversation>() <= 296);
    }
}
