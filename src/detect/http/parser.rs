//! HTTP/1.x message framing for one direction of a connection (RFC 9112 §2–§7).
//!
//! The parser buffers only message heads (start line and header fields, at most
//! [`MAX_HEAD_BYTES`]), reads them with `httparse`, and keeps the few fields persistence and
//! hop analysis need ([`Head`]). Bodies are skipped by counting: `Content-Length` bytes, chunk
//! sizes walked line by line (RFC 9112 §7.1), or everything until the connection closes. Which
//! framing a message has depends on the other direction (a response to HEAD has no body, a 2xx
//! to CONNECT or a 101 turns the connection into a tunnel), so the caller decides it with
//! [`MessageParser::set_framing`] after each head.
//!
//! It does not keep header values other than those listed in [`Head`]: credentials
//! (`Authorization`, `Cookie`, ...) are never copied out of the capture buffer.

use memchr::memmem::Finder;
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

/// Header values and start-line parts. Most are short ("GET", "keep-alive", "timeout=5",
/// "/index.html"); a `CompactString` keeps up to 24 bytes inline, so reading them and copying
/// them into exchange records allocates nothing (docs/performance.md).
pub type Text = compact_str::CompactString;

/// Largest message head kept; a longer one makes the parser give up on that direction.
/// Servers refuse far less (nginx `large_client_header_buffers` 4 × 8 KiB, Apache 8 KiB per
/// field), so a longer head means the stream is not HTTP or was misread.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Header fields read per message (httparse needs a fixed array).
const MAX_HEADERS: usize = 128;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Longest value kept of a header we report (Connection, Keep-Alive, Server, Upgrade).
const MAX_VALUE_CHARS: usize = 128;
/// Longest request target kept.
const MAX_TARGET_CHARS: usize = 512;
/// Header names kept that a message's own `Connection` field lists.
const MAX_NAMED_HEADERS: usize = 8;

/// The HTTP/2 connection preface a client sends with prior knowledge (RFC 9113 §3.4).
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Request,
    Response,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Text, target: Text },
    Response { status: u16 },
}

/// What kaprobe keeps of one message head.
#[derive(Clone, Debug)]
pub struct Head {
    pub start: StartLine,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// `Connection` values, comma-joined as received (several fields are merged).
    pub connection: Option<Text>,
    /// What the `Connection` value lists, read once with the head.
    pub connection_options: ConnectionOptions,
    pub keep_alive: Option<Text>,
    pub content_length: Option<u64>,
    /// `Content-Length` unreadable or contradictory (RFC 9112 §6.3 item 5).
    pub length_invalid: bool,
    /// `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    /// `Transfer-Encoding` present without final `chunked`.
    pub other_transfer_coding: bool,
    pub upgrade: Option<Text>,
    pub server: Option<Text>,
    pub via: bool,
    /// `X-Forwarded-For`, `Forwarded` or `X-Real-IP`: the sender is a proxy.
    pub forwarded_for: bool,
    /// `X-Request-Id` or `X-Correlation-Id`, for matching requests across hops (never printed).
    pub request_id: Option<Text>,
    pub proxy_connection: Option<Text>,
    /// Names (lowercase) of header fields in this message that its `Connection` lists, other
    /// than the standard options: hop-by-hop fields a proxy must not forward.
    pub named_hop_by_hop: Vec<Text>,
    /// Hashes of every field name in a request (for spotting forwarded hop-by-hop fields).
    pub field_names: Vec<u64>,
}

impl Head {
    /// A head with its start line and version and no fields read yet.
    pub fn new(start: StartLine, minor_version: u8) -> Head {
        Head {
            start,
            minor_version,
            connection: None,
            connection_options: ConnectionOptions::default(),
            keep_alive: None,
            content_length: None,
            length_invalid: false,
            chunked: false,
            other_transfer_coding: false,
            upgrade: None,
            server: None,
            via: false,
            forwarded_for: false,
            request_id: None,
            proxy_connection: None,
            named_hop_by_hop: Vec::new(),
            field_names: Vec::new(),
        }
    }

    /// This request has a field named `name` (case-insensitive; heads of responses keep no
    /// field names).
    pub fn has_field(&self, name: &str) -> bool {
        self.field_names.contains(&name_hash(name))
    }

    pub fn version_text(&self) -> &'static str {
        version_text(self.minor_version)
    }
}

pub fn version_text(minor_version: u8) -> &'static str {
    if minor_version == 0 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// The options of a `Connection` value that persistence and hop analysis ask about
/// (case-insensitive, RFC 9110 §7.6.1). Read once per head, where the value is tokenized
/// anyway for the fields it names: asked per decision, the tokenizing cost 330 instructions
/// per head, and the hop analysis asked again on the merger thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    pub close: bool,
    pub keep_alive: bool,
    /// An option other than `close`, `keep-alive` and `upgrade`: a hop-by-hop field's name
    /// or an extension, which a proxy must not forward.
    pub custom: bool,
}

fn connection_tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    Tunnel,
}

/// What the parser found in the bytes it was fed.
#[derive(Debug)]
pub enum Event {
    /// Shared: the conversation queues it for its response and hands it to hop matching.
    Head(Arc<Head>),
    /// The current message's body ended.
    MessageEnd,
    /// The HTTP/2 prior-knowledge preface: the rest is not HTTP/1.
    H2Preface,
    /// The bytes are not HTTP/1.x; parsing this direction stops until a new start line.
    NotHttp(&'static str),
    /// A head exceeded [`MAX_HEAD_BYTES`].
    HeadTooLarge,
}

/// The result of one `feed`: how many bytes were used, and an event if one happened.
pub struct Step {
    pub consumed: usize,
    pub event: Option<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Tunnel,
    /// Lost track (gap in a head, unreadable bytes): waits for a segment starting a message.
    Lost,
}

/// Framing state of one direction: 32 bytes, two in every open HTTP connection.
pub struct MessageParser {
    role: Role,
    state: State,
    /// The head (or chunk or trailer line) read so far, when it spans segments; `None`
    /// otherwise, which is almost always: heads and lines that arrive whole are read where
    /// they lie. Boxed, so that an idle parser holds 8 bytes for it instead of a 24-byte
    /// `Vec` and its counter.
    partial: Option<Box<Partial>>,
    /// Nothing was read on this direction yet.
    at_stream_start: bool,
}

/// A head or line cut by the end of a segment.
#[derive(Default)]
struct Partial {
    bytes: Vec<u8>,
    /// How far `bytes` was searched for the end of the head (a head is at most
    /// [`MAX_HEAD_BYTES`]).
    scanned: u32,
}

impl MessageParser {
    pub fn new(role: Role) -> MessageParser {
        MessageParser {
            role,
            state: State::Head,
            partial: None,
            at_stream_start: true,
        }
    }

    pub fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    pub fn is_tunnel(&self) -> bool {
        self.state == State::Tunnel
    }

    /// Between messages (no head or body half read).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.partial.is_none()
    }

    /// Stops reading this direction: the rest is a tunnel or another protocol.
    pub fn stop(&mut self) {
        self.state = State::Tunnel;
        self.release_buffer();
    }

    /// After a gap or an unreadable head, parsing restarts at a segment that starts with a
    /// plausible start line.
    pub fn try_resync(&mut self, segment: &[u8]) -> bool {
        if self.state != State::Lost || !looks_like_start(self.role, segment) {
            return false;
        }
        self.state = State::Head;
        self.release_buffer();
        true
    }

    /// Sets how the body of the head just read is delimited. Returns `MessageEnd` when the
    /// message has no body.
    pub fn set_framing(&mut self, framing: Framing) -> Option<Event> {
        self.state = match framing {
            Framing::None | Framing::Length(0) => State::Head,
            Framing::Length(length) => State::Body(length),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
            Framing::Tunnel => State::Tunnel,
        };
        matches!(framing, Framing::None | Framing::Length(0)).then_some(Event::MessageEnd)
    }

    /// `length` bytes were not captured. Inside a counted body they are simply skipped;
    /// anywhere else the parser has lost the message boundaries.
    pub fn gap(&mut self, length: u64) -> Option<Event> {
        match self.state {
            State::Body(remaining) | State::ChunkData(remaining) if length < remaining => {
                self.state = match self.state {
                    State::Body(_) => State::Body(remaining - length),
                    _ => State::ChunkData(remaining - length),
                };
                None
            }
            State::Body(remaining) if length == remaining => {
                self.state = State::Head;
                Some(Event::MessageEnd)
            }
            State::UntilClose | State::Tunnel | State::Lost => None,
            _ => {
                self.state = State::Lost;
                self.release_buffer();
                None
            }
        }
    }

    /// The connection closed: a close-delimited body ends here.
    pub fn end_of_stream(&mut self) -> Option<Event> {
        if self.state == State::UntilClose {
            self.state = State::Head;
            return Some(Event::MessageEnd);
        }
        None
    }

    /// Reads from `input`; call again with the rest while bytes remain.
    pub fn feed(&mut self, input: &[u8]) -> Step {
        match self.state {
            State::Head => self.feed_head(input),
            State::Body(remaining) => self.skip_body(input, remaining),
            State::ChunkSize => self.feed_chunk_size(input),
            State::ChunkData(remaining) => self.skip_chunk(input, remaining),
            State::ChunkDataEnd => self.feed_chunk_end(input),
            State::Trailers => self.feed_trailers(input),
            State::UntilClose | State::Tunnel | State::Lost => Step {
                consumed: input.len(),
                event: None,
            },
        }
    }

    fn feed_head(&mut self, input: &[u8]) -> Step {
        let mut consumed = 0;
        if self.partial.is_none() {
            // RFC 9112 §2.2: ignore empty lines before a start line.
            consumed = input
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if self.at_stream_start
                && self.role == Role::Request
                && input
                    .get(consumed..)
                    .is_some_and(|rest| rest.starts_with(H2_PREFACE_START))
            {
                self.state = State::Tunnel;
                return Step {
                    consumed,
                    event: Some(Event::H2Preface),
                };
            }
        }
        let rest = input.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            return Step {
                consumed,
                event: None,
            };
        }
        self.at_stream_start = false;
        let fresh = self.partial.is_none();
        if fresh {
            // Most heads arrive whole in one segment: parse them where they lie, without
            // copying.
            if let Some(end) = head_end(rest, 0) {
                let event = self.parse(rest.get(..end).unwrap_or(rest));
                return Step {
                    consumed: consumed + end,
                    event: Some(event),
                };
            }
            // Bytes that cannot begin a head (TLS, another protocol) are given up on without
            // being buffered first.
            let first = rest.get(..rest.len().min(MAX_HEAD_BYTES)).unwrap_or(rest);
            if let Some(event) = unreadable_head(self.role, first) {
                self.state = State::Lost;
                return Step {
                    consumed: input.len(),
                    event: Some(event),
                };
            }
        }
        let partial = self.partial.get_or_insert_default();
        let room = MAX_HEAD_BYTES.saturating_sub(partial.bytes.len());
        let taken = rest.len().min(room);
        let old_length = partial.bytes.len();
        partial
            .bytes
            .extend_from_slice(rest.get(..taken).unwrap_or_default());
        if fresh {
            // These are the bytes `head_end` and `unreadable_head` saw above: no end, and
            // readable so far.
            partial.scanned = u32::try_from(taken).unwrap_or(u32::MAX);
        } else {
            if let Some(end) = partial.find_head_end() {
                let used = end.saturating_sub(old_length);
                let event = self.finish_head(end);
                return Step {
                    consumed: consumed + used,
                    event: Some(event),
                };
            }
            if let Some(event) = unreadable_head(self.role, &partial.bytes) {
                self.state = State::Lost;
                self.release_buffer();
                return Step {
                    consumed: input.len(),
                    event: Some(event),
                };
            }
        }
        Step {
            consumed: consumed + taken,
            event: None,
        }
    }

    /// Parses the buffered head, which ends at `end`, and lets the buffer go.
    fn finish_head(&mut self, end: usize) -> Event {
        let partial = self.partial.take().unwrap_or_default();
        match partial.bytes.get(..end) {
            Some(bytes) => self.parse(bytes),
            None => {
                self.state = State::Lost;
                Event::NotHttp("internal: head end out of range")
            }
        }
    }

    fn parse(&mut self, head: &[u8]) -> Event {
        match parse_head(self.role, head) {
            Ok(head) => {
                // Until the caller sets the framing, nothing follows.
                self.state = State::Head;
                Event::Head(Arc::new(head))
            }
            Err(reason) => {
                self.state = State::Lost;
                Event::NotHttp(reason)
            }
        }
    }

    /// Lets go of what was buffered: an idle keep-alive connection would otherwise hold it
    /// for its whole life (memory is per open connection).
    fn release_buffer(&mut self) {
        self.partial = None;
    }

    fn skip_body(&mut self, input: &[u8], remaining: u64) -> Step {
        let taken = remaining.min(input.len() as u64);
        let left = remaining - taken;
        self.state = if left == 0 {
            State::Head
        } else {
            State::Body(left)
        };
        Step {
            consumed: taken as usize,
            event: (left == 0).then_some(Event::MessageEnd),
        }
    }

    fn skip_chunk(&mut self, input: &[u8], remaining: u64) -> Step {
        let taken = remaining.min(input.len() as u64);
        let left = remaining - taken;
        self.state = if left == 0 {
            State::ChunkDataEnd
        } else {
            State::ChunkData(left)
        };
        Step {
            consumed: taken as usize,
            event: None,
        }
    }

    /// Reads one line (through its line feed) with `read`: where it lies when `input` holds
    /// all of it, from the buffer when it began in an earlier segment. Returns the bytes
    /// consumed and what `read` made of the line, or `None` while it is incomplete (buffered).
    fn take_line<T>(&mut self, input: &[u8], read: impl FnOnce(&[u8]) -> T) -> (usize, Option<T>) {
        let Some(index) = input.iter().position(|b| *b == b'\n') else {
            if !input.is_empty() {
                let partial = self.partial.get_or_insert_default();
                partial.bytes.extend_from_slice(input);
            }
            return (input.len(), None);
        };
        let line = input.get(..=index).unwrap_or_default();
        let result = match self.partial.take() {
            None => read(line),
            Some(mut partial) => {
                partial.bytes.extend_from_slice(line);
                read(&partial.bytes)
            }
        };
        (index + 1, Some(result))
    }

    fn feed_chunk_size(&mut self, input: &[u8]) -> Step {
        let (consumed, size) =
            self.take_line(input, |line| match httparse::parse_chunk_size(line) {
                Ok(httparse::Status::Complete((_, size))) => Some(size),
                _ => None,
            });
        let Some(size) = size else {
            return self.check_line_length(consumed);
        };
        match size {
            Some(0) => self.state = State::Trailers,
            Some(size) => self.state = State::ChunkData(size),
            None => {
                self.state = State::Lost;
                return Step {
                    consumed,
                    event: Some(Event::NotHttp("invalid chunk size line")),
                };
            }
        }
        Step {
            consumed,
            event: None,
        }
    }

    fn feed_chunk_end(&mut self, input: &[u8]) -> Step {
        let (consumed, complete) = self.take_line(input, |_| ());
        if complete.is_some() {
            self.state = State::ChunkSize;
            return Step {
                consumed,
                event: None,
            };
        }
        self.check_line_length(consumed)
    }

    fn feed_trailers(&mut self, input: &[u8]) -> Step {
        let (consumed, blank) = self.take_line(input, |line| matches!(line, b"\n" | b"\r\n"));
        let Some(blank) = blank else {
            return self.check_line_length(consumed);
        };
        if blank {
            self.state = State::Head;
            return Step {
                consumed,
                event: Some(Event::MessageEnd),
            };
        }
        Step {
            consumed,
            event: None,
        }
    }

    /// After an incomplete line: gives up past [`MAX_LINE_BYTES`] buffered.
    fn check_line_length(&mut self, consumed: usize) -> Step {
        let buffered = self
            .partial
            .as_ref()
            .map_or(0, |partial| partial.bytes.len());
        if buffered <= MAX_LINE_BYTES {
            return Step {
                consumed,
                event: None,
            };
        }
        self.state = State::Lost;
        self.release_buffer();
        Step {
            consumed,
            event: Some(Event::NotHttp("chunk or trailer line too long")),
        }
    }
}

/// Why the start of a head, still without its end, cannot be read: it does not begin like a
/// start line, or it already fills [`MAX_HEAD_BYTES`].
fn unreadable_head(role: Role, head_so_far: &[u8]) -> Option<Event> {
    if !looks_like_start(role, head_so_far) {
        return Some(Event::NotHttp(
            "the stream does not start with an HTTP/1.x start line",
        ));
    }
    (head_so_far.len() >= MAX_HEAD_BYTES).then_some(Event::HeadTooLarge)
}

impl Partial {
    /// Index just past the empty line ending the buffered head, searching only new bytes.
    fn find_head_end(&mut self) -> Option<usize> {
        let scanned = usize::try_from(self.scanned).unwrap_or(usize::MAX);
        let found = head_end(&self.bytes, scanned.saturating_sub(3));
        self.scanned = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        found
    }
}

/// Index just past the empty line (CRLF CRLF, or bare LFs, RFC 9112 §2.2) that ends a head in
/// `bytes`, looking at blank lines that begin at `from` or later (a caller searching again
/// after more bytes came starts 3 bytes before the old end, so a blank line cut between two
/// segments is found).
fn head_end(bytes: &[u8], from: usize) -> Option<usize> {
    // Two vectorized searches per head instead of a look behind every line feed (a head has
    // a dozen lines): the first CRLF blank line, then a bare-LF one only before it.
    // The searchers are built once: building one per call cost more than the search.
    static CRLF_BLANK_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\r\n"));
    static LF_BLANK_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\n"));
    let window = bytes.get(from..)?;
    let crlf_end = CRLF_BLANK_LINE.find(window).map(|at| at + 3);
    let searched = window.get(..crlf_end.unwrap_or(window.len()))?;
    let lf_end = LF_BLANK_LINE.find(searched).map(|at| at + 2);
    lf_end.or(crlf_end).map(|end| from + end)
}

/// Could `bytes` be the beginning of a start line? A request starts with a method token and
/// a space; a response with `HTTP/`. Checked on the first bytes only, so binary data is
/// rejected at once instead of being buffered up to the head limit.
pub fn looks_like_start(role: Role, bytes: &[u8]) -> bool {
    match role {
        Role::Response => {
            let prefix = b"HTTP/";
            let length = bytes.len().min(prefix.len());
            bytes.get(..length) == prefix.get(..length)
        }
        Role::Request => {
            let probe = bytes.get(..bytes.len().min(24)).unwrap_or_default();
            match probe.iter().position(|b| *b == b' ') {
                Some(0) => false,
                Some(index) => probe
                    .get(..index)
                    .is_some_and(|m| m.iter().all(is_method_byte)),
                None => probe.len() < 24 && probe.iter().all(is_method_byte),
            }
        }
    }
}

fn is_method_byte(byte: &u8) -> bool {
    byte.is_ascii_uppercase() || *byte == b'-' || *byte == b'_'
}

fn parse_head(role: Role, bytes: &[u8]) -> Result<Head, &'static str> {
    // Uninitialised: zeroing 128 fields per head cost more than parsing a typical one.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true);
    let (start, minor_version, fields) = match role {
        Role::Request => {
            let mut request = httparse::Request::new(&mut []);
            check(config.parse_request_with_uninit_headers(&mut request, bytes, &mut headers))?;
            let method = request.method.ok_or("no method")?;
            let target = request.path.ok_or("no request target")?;
            let start = StartLine::Request {
                method: capped(method, 32),
                target: capped(target, MAX_TARGET_CHARS),
            };
            (start, request.version.ok_or("no version")?, request.headers)
        }
        Role::Response => {
            let mut response = httparse::Response::new(&mut []);
            check(config.parse_response_with_uninit_headers(&mut response, bytes, &mut headers))?;
            let status = response.code.ok_or("no status")?;
            let version = response.version.ok_or("no version")?;
            (StartLine::Response { status }, version, response.headers)
        }
    };
    let mut head = Head::new(start, minor_version);
    if role == Role::Request {
        head.field_names.reserve_exact(fields.len());
    }
    for field in fields.iter() {
        read_field(&mut head, field.name, field.value);
        if role == Role::Request {
            head.field_names.push(name_hash(field.name));
        }
    }
    read_connection_options(&mut head, fields);
    Ok(head)
}

fn check(result: httparse::Result<usize>) -> Result<(), &'static str> {
    match result {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err("incomplete message head"),
        Err(httparse::Error::TooManyHeaders) => Err("more header fields than kaprobe reads (128)"),
        Err(httparse::Error::Version) => Err("not an HTTP/1.x version"),
        Err(_) => Err("malformed HTTP/1.x message head"),
    }
}

/// The header fields kaprobe reads; every other field (most of a browser's request) is
/// passed over without decoding its value.
#[derive(Clone, Copy)]
enum KeptField {
    Connection,
    KeepAlive,
    ContentLength,
    TransferEncoding,
    Upgrade,
    Server,
    Via,
    ForwardedFor,
    RequestId,
    ProxyConnection,
}

/// Which kept field `name` is (case-insensitive, RFC 9110 §5.1), picked by length first so
/// that most names are compared with one or two candidates at most, then compared a word at a
/// time: byte by byte, these comparisons were 3 % of all instructions.
fn kept_field(name: &str) -> Option<KeptField> {
    let candidates: &[(&str, KeptField)] = match name.len() {
        3 => &[("via", KeptField::Via)],
        6 => &[("server", KeptField::Server)],
        7 => &[("upgrade", KeptField::Upgrade)],
        9 => &[
            ("forwarded", KeptField::ForwardedFor),
            ("x-real-ip", KeptField::ForwardedFor),
        ],
        10 => &[
            ("connection", KeptField::Connection),
            ("keep-alive", KeptField::KeepAlive),
        ],
        12 => &[("x-request-id", KeptField::RequestId)],
        14 => &[("content-length", KeptField::ContentLength)],
        15 => &[("x-forwarded-for", KeptField::ForwardedFor)],
        16 => &[
            ("proxy-connection", KeptField::ProxyConnection),
            ("x-correlation-id", KeptField::RequestId),
        ],
        17 => &[("transfer-encoding", KeptField::TransferEncoding)],
        _ => &[],
    };
    candidates
        .iter()
        .find(|(candidate, _)| equals_lowercase(name.as_bytes(), candidate.as_bytes()))
        .map(|&(_, field)| field)
}

/// `name` equals `lowercase` (all lowercase) ignoring ASCII case. From eight bytes on, the
/// bytes are compared in words, the last word overlapping the one before it.
fn equals_lowercase(name: &[u8], lowercase: &[u8]) -> bool {
    if name.len() != lowercase.len() {
        return false;
    }
    let Some(last) = name.len().checked_sub(8) else {
        return name.eq_ignore_ascii_case(lowercase);
    };
    let word_at = |bytes: &[u8], at: usize| {
        let word = <[u8; 8]>::try_from(bytes.get(at..at + 8)?).ok()?;
        Some(u64::from_le_bytes(word))
    };
    (0..name.len()).step_by(8).map(|at| at.min(last)).all(|at| {
        match (word_at(name, at), word_at(lowercase, at)) {
            (Some(word), Some(expected)) => ascii_lowercase_word(word) == expected,
            _ => false,
        }
    })
}

fn read_field(head: &mut Head, name: &str, value: &[u8]) {
    let Some(field) = kept_field(name) else {
        return;
    };
    match field {
        KeptField::Via => head.via = true,
        KeptField::ForwardedFor => head.forwarded_for = true,
        KeptField::Connection => append_value(&mut head.connection, text_of(value).trim()),
        KeptField::KeepAlive => append_value(&mut head.keep_alive, text_of(value).trim()),
        KeptField::ContentLength => read_content_length(head, text_of(value).trim()),
        KeptField::TransferEncoding => {
            let value = text_of(value);
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            head.chunked = last.eq_ignore_ascii_case("chunked");
            head.other_transfer_coding = !head.chunked;
        }
        KeptField::Upgrade => head.upgrade = Some(capped_value(value)),
        KeptField::Server => head.server = Some(capped_value(value)),
        KeptField::RequestId => head.request_id = Some(capped_value(value)),
        KeptField::ProxyConnection => head.proxy_connection = Some(capped_value(value)),
    }
}

/// A field value as text. Valid UTF-8 (nearly every field) is checked a word at a time and
/// borrowed; only invalid bytes pay for the lossy decoder.
fn text_of(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value),
    }
}

fn capped_value(value: &[u8]) -> Text {
    capped(text_of(value).trim(), MAX_VALUE_CHARS)
}

fn append_value(slot: &mut Option<Text>, value: &str) {
    match slot {
        Some(previous) => {
            previous.push_str(", ");
            previous.push_str(value);
            truncate_chars(previous, MAX_VALUE_CHARS);
        }
        None => *slot = Some(capped(value, MAX_VALUE_CHARS)),
    }
}

fn read_content_length(head: &mut Head, value: &str) {
    let mut parsed: Option<u64> = None;
    for part in value.split(',').map(str::trim) {
        match (part.parse::<u64>(), parsed) {
            (Ok(length), None) => parsed = Some(length),
            (Ok(length), Some(seen)) if length == seen => {}
            _ => {
                head.length_invalid = true;
                return;
            }
        }
    }
    match (parsed, head.content_length) {
        (Some(length), Some(seen)) if length != seen => head.length_invalid = true,
        (Some(length), _) => head.content_length = Some(length),
        (None, _) => head.length_invalid = true,
    }
}

/// Reads the `Connection` value's options, and the fields it names other than the standard
/// options: hop-by-hop fields a proxy must not forward.
fn read_connection_options(head: &mut Head, fields: &[httparse::Header<'_>]) {
    let Some(connection) = head.connection.take() else {
        return;
    };
    for token in connection_tokens(&connection) {
        if token.eq_ignore_ascii_case("close") {
            head.connection_options.close = true;
        } else if token.eq_ignore_ascii_case("keep-alive") {
            head.connection_options.keep_alive = true;
        } else if !token.eq_ignore_ascii_case("upgrade") {
            head.connection_options.custom = true;
            let present = fields.iter().any(|f| f.name.eq_ignore_ascii_case(token));
            if present && head.named_hop_by_hop.len() < MAX_NAMED_HEADERS {
                head.named_hop_by_hop
                    .push(capped(&token.to_ascii_lowercase(), 64));
            }
        }
    }
    head.connection = Some(connection);
}

/// A case-insensitive hash of a field name: field names are compared by hash, and every
/// field name of every request is hashed, so this takes eight bytes per step (lowercased
/// together) instead of one, and allocates no lowercase copy.
fn name_hash(name: &str) -> u64 {
    let mut words = name.as_bytes().chunks_exact(8);
    let mut hash = NAME_HASH_SEED ^ name.len() as u64;
    for chunk in &mut words {
        let word = <[u8; 8]>::try_from(chunk).unwrap_or_default();
        hash = mix_name_word(hash, u64::from_le_bytes(word));
    }
    let mut tail = [0; 8];
    for (slot, &byte) in tail.iter_mut().zip(words.remainder()) {
        *slot = byte;
    }
    mix_name_word(hash, u64::from_le_bytes(tail))
}

const NAME_HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;

fn mix_name_word(hash: u64, word: u64) -> u64 {
    let mixed = (hash ^ ascii_lowercase_word(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed ^ (mixed >> 29)
}

/// The eight bytes of `word` with ASCII `A`–`Z` lowercased, all at once: a byte's high bit
/// marks it as at least `A` and not above `Z`, and moved down it is the 0x20 to add.
fn ascii_lowercase_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let seven_bits = word & (ONES * 0x7F);
    let at_least_upper_a = seven_bits.wrapping_add(ONES * (0x80 - u64::from(b'A')));
    let above_upper_z = seven_bits.wrapping_add(ONES * (0x7F - u64::from(b'Z')));
    let upper = (at_least_upper_a & !above_upper_z) & !word & (ONES * 0x80);
    word | (upper >> 2)
}

/// `text`, cut after `limit` characters.
pub fn capped(text: &str, limit: usize) -> Text {
    let mut copy = Text::from(text);
    truncate_chars(&mut copy, limit);
    copy
}

fn truncate_chars(text: &mut Text, limit: usize) {
    // A string of at most `limit` bytes has at most `limit` characters: no need to count.
    if text.len() <= limit {
        return;
    }
    if let Some((index, _)) = text.char_indices().nth(limit) {
        text.truncate(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_hash_alike_whatever_their_case() {
        let names = [
            "X-Hop",
            "Keep-Alive",
            "x-forwarded-for-longer-than-sixteen",
            "A",
            "",
        ];
        for name in names {
            assert_eq!(
                name_hash(name),
                name_hash(&name.to_ascii_lowercase()),
                "{name}"
            );
            assert_eq!(
                name_hash(name),
                name_hash(&name.to_ascii_uppercase()),
                "{name}"
            );
        }
        // Bytes next to the letters' range keep their case: `@`/`[` are not `` ` ``/`{`.
        assert_ne!(name_hash("x@["), name_hash("x`{"));
        assert_ne!(name_hash("x-hop"), name_hash("x-hop2"));
        assert_ne!(name_hash("abcdefgh"), name_hash("abcdefgh\0"));
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([byte; 8]);
            let expected = u64::from_le_bytes([byte.to_ascii_lowercase(); 8]);
            assert_eq!(ascii_lowercase_word(word), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn kept_names_compare_like_eq_ignore_ascii_case() {
        let lowercase = [
            "via",
            "keep-alive",
            "content-length",
            "transfer-encoding",
            "x-correlation-id",
            "abcdefghijklmnopqrstuvwx",
        ];
        for expected in lowercase {
            let mut names = vec![
                expected.to_string(),
                expected.to_ascii_uppercase(),
                format!("{expected}x"),
            ];
            // Every single byte changed to each of a few neighbours of the letters' range,
            // and to its own upper case.
            for index in 0..expected.len() {
                for replacement in [b'@', b'[', b'`', b'{', b'-', b'\0', b'\xc1'] {
                    let mut bytes = expected.as_bytes().to_vec();
                    bytes[index] = replacement;
                    names.push(String::from_utf8_lossy(&bytes).into_owned());
                }
                let mut bytes = expected.as_bytes().to_vec();
                bytes[index] = bytes[index].to_ascii_uppercase();
                names.push(String::from_utf8(bytes).unwrap());
            }
            for name in &names {
                assert_eq!(
                    equals_lowercase(name.as_bytes(), expected.as_bytes()),
                    name.eq_ignore_ascii_case(expected),
                    "{name:?} against {expected:?}"
                );
            }
        }
    }

    fn feed_all(parser: &mut MessageParser, mut input: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        while !input.is_empty() {
            let step = parser.feed(input);
            input = input.get(step.consumed..).unwrap_or_default();
            if let Some(event) = step.event {
                if let Event::Head(head) = &event {
                    let framing = match head.content_length {
                        Some(length) => Framing::Length(length),
                        None if head.chunked => Framing::Chunked,
                        None => Framing::None,
                    };
                    events.push(event);
                    if let Some(end) = parser.set_framing(framing) {
                        events.push(end);
                    }
                    continue;
                }
                events.push(event);
            } else if step.consumed == 0 {
                break;
            }
        }
        events
    }

    #[test]
    fn a_chunked_body_is_walked_to_its_end() {
        let mut parser = MessageParser::new(Role::Response);
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let events = feed_all(&mut parser, bytes);
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::Head(_) => "head",
                Event::MessageEnd => "end",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["head", "end", "head", "end"]);
    }

    fn event_kinds(events: &[Event]) -> Vec<&'static str> {
        events
            .iter()
            .map(|event| match event {
                Event::Head(_) => "head",
                Event::MessageEnd => "end",
                Event::NotHttp(_) => "not-http",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn chunk_and_trailer_lines_cut_anywhere_read_as_whole_ones() {
        // Lines that arrive whole are read in place, cut ones from the buffer: both ways
        // must agree, and the buffer must be gone once the message is.
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let whole = event_kinds(&feed_all(&mut MessageParser::new(Role::Response), bytes));
        assert_eq!(whole, ["head", "end"]);
        for cut in 1..bytes.len() {
            let (first, second) = bytes.split_at(cut);
            let mut parser = MessageParser::new(Role::Response);
            let mut events = feed_all(&mut parser, first);
            events.extend(feed_all(&mut parser, second));
            assert_eq!(event_kinds(&events), whole, "cut at {cut}");
            assert!(parser.is_idle() && parser.partial.is_none(), "cut at {cut}");
        }
        let mut parser = MessageParser::new(Role::Response);
        let mut events = Vec::new();
        for byte in bytes.iter() {
            events.extend(feed_all(&mut parser, std::slice::from_ref(byte)));
        }
        assert_eq!(event_kinds(&events), whole, "byte by byte");
        assert!(parser.is_idle());
    }

    #[test]
    fn an_overlong_chunk_line_cut_by_segments_loses_the_message() {
        let mut parser = MessageParser::new(Role::Response);
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(event_kinds(&feed_all(&mut parser, head)), ["head"]);
        let digits = vec![b'0'; MAX_LINE_BYTES / 2 + 1];
        assert!(
            feed_all(&mut parser, &digits).is_empty(),
            "still within the limit"
        );
        let events = feed_all(&mut parser, &digits);
        assert_eq!(event_kinds(&events), ["not-http"]);
        assert!(parser.is_lost() && parser.partial.is_none());
    }

    #[test]
    fn bytes_that_cannot_begin_a_head_are_given_up_on_unbuffered() {
        for role in [Role::Request, Role::Response] {
            let mut parser = MessageParser::new(role);
            let tls_record = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
            let step = parser.feed(tls_record);
            assert_eq!(step.consumed, tls_record.len());
            assert!(matches!(step.event, Some(Event::NotHttp(_))));
            assert!(parser.is_lost() && parser.partial.is_none());
        }
        // The start of a head is kept for the next segment, and read with it.
        let mut parser = MessageParser::new(Role::Request);
        assert!(parser.feed(b"GET /a HTTP/1.1\r\nHo").event.is_none());
        assert!(parser.partial.is_some());
        let step = parser.feed(b"st: x\r\n\r\n");
        assert!(matches!(step.event, Some(Event::Head(_))));
        assert!(parser.partial.is_none());
        // A segment filling the head limit without an end is too large, unbuffered too.
        let mut parser = MessageParser::new(Role::Request);
        let mut huge = b"GET /".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        assert!(matches!(
            parser.feed(&huge).event,
            Some(Event::HeadTooLarge)
        ));
        assert!(parser.is_lost() && parser.partial.is_none());
    }

    #[test]
    fn a_parser_stays_small() {
        // Two in every open HTTP connection (docs/performance.md, Memory).
        assert!(std::mem::size_of::<MessageParser>() <= 32);
    }

    #[test]
    fn connection_options_and_named_fields_are_read() {
        let head = parse_head(
            Role::Request,
            b"GET /a?b=c HTTP/1.0\r\nConnection: Keep-Alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 3, 3\r\n\r\n",
        )
        .expect("valid head");
        assert_eq!(
            head.connection_options,
            ConnectionOptions {
                close: false,
                keep_alive: true,
                custom: true
            }
        );
        assert_eq!(head.named_hop_by_hop, vec!["x-hop".to_string()]);
        assert_eq!(
            head.connection.as_deref(),
            Some("Keep-Alive, X-Hop"),
            "the value is kept as received"
        );
        assert_eq!(head.content_length, Some(3));
        assert_eq!(head.keep_alive.as_deref(), Some("timeout=5"));
        assert_eq!(head.minor_version, 0);
    }

    #[test]
    fn standard_connection_options_are_not_custom_in_any_case() {
        let head = parse_head(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nConnection: UPGRADE,\r\nconnection: Close\r\n\r\n",
        )
        .expect("valid head");
        assert_eq!(
            head.connection_options,
            ConnectionOptions {
                close: true,
                keep_alive: false,
                custom: false
            }
        );
        assert!(head.named_hop_by_hop.is_empty());
    }

    #[test]
    fn contradictory_lengths_are_flagged() {
        let head = parse_head(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        )
        .expect("valid head");
        assert!(head.length_invalid);
    }

    #[test]
    fn binary_bytes_are_rejected_at_once() {
        let mut parser = MessageParser::new(Role::Request);
        let step = parser.feed(&[0x16, 0x03, 0x01, 0x02, 0x00]);
        assert!(matches!(step.event, Some(Event::NotHttp(_))));
        assert!(parser.is_lost());
    }

    /// The first blank line by definition: a line feed after a line feed, or after CR LF.
    fn first_blank_line_end(bytes: &[u8]) -> Option<usize> {
        (0..bytes.len()).find_map(|at| {
            let before = &bytes[..at];
            (bytes[at] == b'\n' && (before.ends_with(b"\n") || before.ends_with(b"\n\r")))
                .then_some(at + 1)
        })
    }

    #[test]
    fn the_head_end_is_the_first_blank_line_wherever_the_bytes_were_cut() {
        // Every string of up to 8 bytes over {a, CR, LF}, searched whole and as the parser
        // searches a head that arrives in two parts (the second search starts 3 bytes back).
        let alphabet = [b'a', b'\r', b'\n'];
        for length in 0..=8u32 {
            for mut code in 0..3usize.pow(length) {
                let mut bytes = Vec::new();
                for _ in 0..length {
                    bytes.push(alphabet[code % 3]);
                    code /= 3;
                }
                let expected = first_blank_line_end(&bytes);
                assert_eq!(head_end(&bytes, 0), expected, "{bytes:?}");
                for cut in 0..=bytes.len() {
                    let found = head_end(&bytes[..cut], 0)
                        .or_else(|| head_end(&bytes, cut.saturating_sub(3)));
                    assert_eq!(found, expected, "{bytes:?} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn a_head_split_byte_by_byte_is_found_once() {
        let mut parser = MessageParser::new(Role::Request);
        let bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut heads = 0;
        for byte in bytes.iter() {
            if let Some(Event::Head(_)) = parser.feed(std::slice::from_ref(byte)).event {
                heads += 1;
                parser.set_framing(Framing::None);
            }
        }
        assert_eq!(heads, 1);
    }
}
