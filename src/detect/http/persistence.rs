//! Whether an HTTP/1.x exchange leaves the connection open, by RFC 9112 §9.3.
//!
//! Each recipient decides from the most recent message it received: `close` in `Connection`
//! ends the connection; otherwise HTTP/1.1 and later persist; HTTP/1.0 persists only with the
//! `keep-alive` option (RFC 9112 Appendix C.2.2; RFC 2068 §19.7.1). A response delimited by the
//! connection closing (RFC 9112 §6.3 item 8) cannot be followed by another one. The server
//! decides on the request (the client *offers* persistence), the client on the response (the
//! server *accepts* or *declines*); the connection persists only when both do.

use super::parser::Head;
use serde::Serialize;

/// The outcome of one exchange (`connections[].http.exchanges[].persistence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// Offered by the client and accepted by the server.
    Kept,
    /// Offered by the client, refused by the server.
    Declined,
    /// The client itself asked to close.
    NotOffered,
}

impl Persistence {
    pub fn name(self) -> &'static str {
        match self {
            Persistence::Kept => "kept",
            Persistence::Declined => "declined",
            Persistence::NotOffered => "not-offered",
        }
    }
}

/// The rule that decided (`exchanges[].rule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `Connection: close` in the request (§9.3 rule 1, §9.6).
    RequestConnectionClose,
    /// `Connection: close` in the response.
    ResponseConnectionClose,
    /// An HTTP/1.0 request without `Connection: keep-alive` (§9.3 rule 4).
    Http10RequestWithoutKeepAlive,
    /// An HTTP/1.0 response without `Connection: keep-alive`.
    Http10ResponseWithoutKeepAlive,
    /// The response body ends when the connection closes (§6.3 item 8).
    CloseDelimitedResponse,
    /// HTTP/1.1 persists by default (§9.3 rule 2).
    Http11Default,
    /// HTTP/1.0 with `keep-alive` on both sides (§9.3 rule 3).
    Http10KeepAlive,
}

impl Rule {
    /// The JSON name (`exchanges[].rule`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::RequestConnectionClose => "request-connection-close",
            Rule::ResponseConnectionClose => "response-connection-close",
            Rule::Http10RequestWithoutKeepAlive => "http10-request-without-keep-alive",
            Rule::Http10ResponseWithoutKeepAlive => "http10-response-without-keep-alive",
            Rule::CloseDelimitedResponse => "close-delimited-response",
            Rule::Http11Default => "http11-default",
            Rule::Http10KeepAlive => "http10-keep-alive",
        }
    }

    /// Words for messages: which header or rule decided.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::RequestConnectionClose => "the request says `Connection: close`",
            Rule::ResponseConnectionClose => "the response says `Connection: close`",
            Rule::Http10RequestWithoutKeepAlive => {
                "the request is HTTP/1.0 without `Connection: keep-alive`"
            }
            Rule::Http10ResponseWithoutKeepAlive => {
                "the response is HTTP/1.0 without `Connection: keep-alive`"
            }
            Rule::CloseDelimitedResponse => {
                "the response has neither Content-Length nor chunked encoding, so it ends by closing"
            }
            Rule::Http11Default => "HTTP/1.1 persists by default",
            Rule::Http10KeepAlive => "HTTP/1.0 with `Connection: keep-alive`",
        }
    }
}

/// What a recipient decides from one message it received.
fn recipient_keeps(head: &Head, close_rule: Rule, http10_rule: Rule) -> Result<Rule, Rule> {
    if head.connection_options.close {
        Err(close_rule)
    } else if head.minor_version >= 1 {
        Ok(Rule::Http11Default)
    } else if head.connection_options.keep_alive {
        Ok(Rule::Http10KeepAlive)
    } else {
        Err(http10_rule)
    }
}

/// Did the client offer persistence with this request?
pub fn offered(request: &Head) -> Result<Rule, Rule> {
    recipient_keeps(
        request,
        Rule::RequestConnectionClose,
        Rule::Http10RequestWithoutKeepAlive,
    )
}

/// Decides one exchange. `request` is `None` when the request was not captured: the response
/// alone then decides.
pub fn decide(
    request: Option<&Head>,
    response: &Head,
    close_delimited: bool,
) -> (Persistence, Rule) {
    let offer = match request.map(offered) {
        Some(Err(rule)) => return (Persistence::NotOffered, rule),
        Some(Ok(rule)) => Some(rule),
        None => None,
    };
    let answer = recipient_keeps(
        response,
        Rule::ResponseConnectionClose,
        Rule::Http10ResponseWithoutKeepAlive,
    );
    match answer {
        Err(rule) => (Persistence::Declined, rule),
        Ok(_) if close_delimited => (Persistence::Declined, Rule::CloseDelimitedResponse),
        Ok(rule) if offer == Some(Rule::Http10KeepAlive) || rule == Rule::Http10KeepAlive => {
            (Persistence::Kept, Rule::Http10KeepAlive)
        }
        Ok(rule) => (Persistence::Kept, rule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::http::parser::{ConnectionOptions, Head, StartLine};

    /// A head whose `Connection` value is one option (as the parser would read it).
    fn head(minor_version: u8, connection: Option<&str>) -> Head {
        let option = connection.map(str::to_ascii_lowercase);
        Head {
            connection: connection.map(Into::into),
            connection_options: ConnectionOptions {
                close: option.as_deref() == Some("close"),
                keep_alive: option.as_deref() == Some("keep-alive"),
                custom: false,
            },
            ..Head::new(StartLine::Response { status: 200 }, minor_version)
        }
    }

    #[test]
    fn http11_persists_unless_close() {
        let request = head(1, None);
        assert_eq!(
            decide(Some(&request), &head(1, None), false),
            (Persistence::Kept, Rule::Http11Default)
        );
        assert_eq!(
            decide(Some(&request), &head(1, Some("close")), false),
            (Persistence::Declined, Rule::ResponseConnectionClose)
        );
        assert_eq!(
            decide(Some(&head(1, Some("Close"))), &head(1, None), false),
            (Persistence::NotOffered, Rule::RequestConnectionClose)
        );
    }

    #[test]
    fn http10_needs_keep_alive_on_both_sides() {
        let request = head(0, Some("keep-alive"));
        assert_eq!(
            decide(Some(&request), &head(0, Some("Keep-Alive")), false),
            (Persistence::Kept, Rule::Http10KeepAlive)
        );
        assert_eq!(
            decide(Some(&request), &head(0, None), false),
            (Persistence::Declined, Rule::Http10ResponseWithoutKeepAlive)
        );
        assert_eq!(
            decide(Some(&head(0, None)), &head(1, None), false),
            (Persistence::NotOffered, Rule::Http10RequestWithoutKeepAlive)
        );
    }

    #[test]
    fn a_close_delimited_response_ends_the_connection() {
        assert_eq!(
            decide(Some(&head(1, None)), &head(1, None), true),
            (Persistence::Declined, Rule::CloseDelimitedResponse)
        );
    }
}
