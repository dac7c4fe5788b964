//! HTTP keep-alive: message framing edge cases on synthetic captures, persistence rules,
//! findings, secrets, and the real captures (corpus with tshark counts, the lab's nginx runs).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::*;

const CLIENT: &str = "10.0.0.5:40000";
const SERVER: &str = "10.0.0.10:80";

fn connection<'a>(report: &'a Value, server: &str) -> &'a Value {
    report["connections"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["server"] == server))
        .unwrap_or_else(|| panic!("no connection to {server}: {report:#}"))
}

fn http(report: &Value) -> &Value {
    &connection(report, SERVER)["http"]
}

/// One handshake, then `steps` run, written to a temp file and analyzed.
fn analyze_with(build: impl FnOnce(&mut Capture, &mut Conversation), extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new(CLIENT, SERVER, 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    build(&mut cap, &mut conv);
    let path = cap.write(dir.path(), "http.pcap");
    analyze_json(&[&path], extra)
}

fn response(body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The server sends `data` in pieces of `size` bytes without waiting for ACKs.
fn server_sends_in_pieces(
    cap: &mut Capture,
    conv: &mut Conversation,
    t: f64,
    data: &[u8],
    size: usize,
) {
    for (index, piece) in data.chunks(size).enumerate() {
        cap.tcp(
            t + index as f64 * 0.001,
            seg(&conv.server, &conv.client)
                .flags(ACK | PSH)
                .seq(conv.server_seq)
                .ack(conv.client_seq)
                .payload(piece),
        );
        conv.server_seq = conv.server_seq.wrapping_add(piece.len() as u32);
    }
}

fn client_fin(cap: &mut Capture, conv: &mut Conversation, t: f64) {
    cap.tcp(
        t,
        seg(&conv.client, &conv.server)
            .flags(FIN | ACK)
            .seq(conv.client_seq)
            .ack(conv.server_seq),
    );
    conv.client_seq = conv.client_seq.wrapping_add(1);
}

fn server_fin(cap: &mut Capture, conv: &mut Conversation, t: f64) {
    cap.tcp(
        t,
        seg(&conv.server, &conv.client)
            .flags(FIN | ACK)
            .seq(conv.server_seq)
            .ack(conv.client_seq),
    );
    conv.server_seq = conv.server_seq.wrapping_add(1);
}

#[test]
fn pipelined_requests_are_each_counted_and_paired_in_order() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n",
                0.001,
            );
            let mut responses = response("aaaa", "");
            responses.extend(response("bb", ""));
            // A response to HEAD announces a length but carries no body (RFC 9112 §6.3).
            responses.extend(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n");
            conv.server_sends(cap, 0.02, &responses, 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 3);
    assert_eq!(report["summary"]["http_responses"], 3);
    let http = http(&report);
    assert_eq!(http["persistent"], true);
    assert_eq!(http["reused"], 2);
    let targets: Vec<&str> = http["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["/a", "/b", "/c"]);
    assert_eq!(http["exchanges"][2]["status"], 200);
}

#[test]
fn a_chunked_body_split_across_segments_is_walked() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(cap, 0.01, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
            server_sends_in_pieces(cap, conv, 0.02, body, 7);
            conv.client_sends(cap, 0.1, b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            conv.server_sends(cap, 0.11, &response("ok", ""), 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_responses"], 2);
    assert_eq!(http(&report)["exchanges"][1]["status"], 200);
    assert_eq!(http(&report)["gaps"], 0);
}

#[test]
fn a_body_split_across_retransmitted_segments_is_counted_once() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(cap, 0.01, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            // Head plus 10 body bytes, then the last 12 body bytes; the first segment is
            // retransmitted with 4 more bytes (an overlap), then the rest.
            let first = b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n0123456789";
            let start = conv.server_seq;
            cap.tcp(
                0.02,
                seg(SERVER, CLIENT)
                    .flags(ACK | PSH)
                    .seq(start)
                    .ack(conv.client_seq)
                    .payload(first),
            );
            let mut longer = first.to_vec();
            longer.extend_from_slice(b"abcd");
            cap.tcp(
                0.3,
                seg(SERVER, CLIENT)
                    .flags(ACK | PSH)
                    .seq(start)
                    .ack(conv.client_seq)
                    .payload(&longer),
            );
            let rest_seq = start.wrapping_add(longer.len() as u32);
            cap.tcp(
                0.31,
                seg(SERVER, CLIENT)
                    .flags(ACK | PSH)
                    .seq(rest_seq)
                    .ack(conv.client_seq)
                    .payload(b"efghijkl"),
            );
            conv.server_seq = rest_seq.wrapping_add(8);
            conv.client_sends(cap, 0.4, b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            conv.server_sends(cap, 0.41, &response("second", ""), 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 2);
    assert_eq!(report["summary"]["http_responses"], 2);
    let http = http(&report);
    assert_eq!(http["exchanges"][1]["target"], "/2");
    assert_eq!(http["exchanges"][1]["status"], 200);
    assert_eq!(http["notes"].as_array().unwrap().len(), 0, "{http:#}");
}

#[test]
fn an_interim_100_continue_is_a_response_but_not_the_answer() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
                0.001,
            );
            conv.server_sends(cap, 0.02, b"HTTP/1.1 100 Continue\r\n\r\n", 0.001);
            conv.client_sends(cap, 0.03, b"hello", 0.001);
            conv.server_sends(cap, 0.04, &response("done", "Connection: close\r\n"), 0.001);
            server_fin(cap, conv, 0.05);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 1);
    assert_eq!(report["summary"]["http_responses"], 2);
    let exchange = &http(&report)["exchanges"][0];
    assert_eq!(exchange["interim"], serde_json::json!([100]));
    assert_eq!(exchange["status"], 200);
    assert_eq!(exchange["persistence"], "declined");
    assert_eq!(exchange["rule"], "response-connection-close");
    let declined = findings(&report, "http-keepalive-declined");
    assert_eq!(declined.len(), 1);
    assert!(
        declined[0]["message"]
            .as_str()
            .unwrap()
            .contains("Connection: close")
    );
}

#[test]
fn a_101_upgrade_turns_the_connection_into_a_tunnel() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                0.001,
            );
            conv.server_sends(
                cap,
                0.02,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                0.001,
            );
            conv.client_sends(cap, 0.03, b"GET /not-http HTTP/1.1\r\n\r\n", 0.001);
            conv.server_sends(cap, 0.04, b"HTTP/1.1 200 OK\r\n\r\n", 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 1);
    assert_eq!(report["summary"]["http_responses"], 1);
    assert_eq!(http(&report)["tunnel"], "upgrade:websocket");
}

#[test]
fn http2_prior_knowledge_is_marked_not_parsed() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
                0.001,
            );
            conv.server_sends(cap, 0.02, b"\x00\x00\x00\x04\x01\x00\x00\x00\x00", 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 0);
    let http = http(&report);
    assert_eq!(http["h2"], true);
    assert_eq!(http["not_http"], false);
}

#[test]
fn a_head_larger_than_one_segment_is_reassembled() {
    let long_value = "v".repeat(3000);
    let request = format!("GET /big HTTP/1.1\r\nHost: x\r\nX-Long: {long_value}\r\n\r\n");
    let report = analyze_with(
        |cap, conv| {
            for (index, piece) in request.as_bytes().chunks(1000).enumerate() {
                conv.client_sends(cap, 0.01 + index as f64 * 0.01, piece, 0.001);
            }
            conv.server_sends(cap, 0.1, &response("ok", ""), 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 1);
    assert_eq!(http(&report)["exchanges"][0]["target"], "/big");
    assert_eq!(http(&report)["exchanges"][0]["status"], 200);
}

#[test]
fn bytes_that_are_not_http_on_port_80_are_noted_not_counted() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03binary",
                0.001,
            );
            conv.server_sends(cap, 0.02, b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56", 0.001);
        },
        &[],
    );
    assert_eq!(report["summary"]["http_requests"], 0);
    assert_eq!(report["summary"]["http_responses"], 0);
    assert_eq!(http(&report)["not_http"], true);
    assert!(report.get("http_hops").is_none());
}

/// TLS from the handshake on, on a port that is not an HTTP port: both directions open with
/// another protocol, so the connection is not HTTP for good; a later record that happens to
/// read like a request is not parsed (the decision in `HttpDetector::other_protocol`).
#[test]
fn another_protocol_from_the_handshake_on_is_not_read_as_http_later() {
    let report = analyze_tls_then_http("10.0.0.10:443");
    assert_eq!(report["summary"]["http_requests"], 0);
    assert!(connection(&report, "10.0.0.10:443")["http"].is_null());
    // On an HTTP port the conversation stays (for its note), and the parser resynchronises
    // on the request.
    let report = analyze_tls_then_http(SERVER);
    assert_eq!(http(&report)["requests"], 1);
}

fn analyze_tls_then_http(server: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (mut cap, mut conv) = tls_client_hello(server);
    conv.server_sends(
        &mut cap,
        0.02,
        b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56",
        0.001,
    );
    conv.client_sends(&mut cap, 0.03, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
    let path = cap.write(dir.path(), "tls.pcap");
    analyze_json(&[&path], &[])
}

/// A handshake to `server`, then the start of a TLS ClientHello record.
fn tls_client_hello(server: &str) -> (Capture, Conversation) {
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new(CLIENT, server, 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc";
    conv.client_sends(&mut cap, 0.01, hello, 0.001);
    (cap, conv)
}

/// A plain HTTP server that a TLS client reaches on a port that is not an HTTP port answers
/// `400`: that answer is read (the client's side is noted as not HTTP).
#[test]
fn an_http_answer_to_another_protocol_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cap, mut conv) = tls_client_hello("10.0.0.10:9000");
    let bad_request = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    conv.server_sends(&mut cap, 0.02, bad_request, 0.001);
    let path = cap.write(dir.path(), "tls-to-http.pcap");
    let report = analyze_json(&[&path], &[]);
    let http = &connection(&report, "10.0.0.10:9000")["http"];
    assert_eq!(http["responses"], 1, "{http:#}");
    assert_eq!(report["summary"]["http_responses"], 1);
}

#[test]
fn http10_persists_only_when_both_sides_say_keep_alive() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(
                cap,
                0.01,
                b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                0.001,
            );
            conv.server_sends(
                cap,
                0.02,
                b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 2\r\n\r\nok",
                0.001,
            );
            conv.client_sends(cap, 0.03, b"GET /2 HTTP/1.0\r\n\r\n", 0.001);
            conv.server_sends(cap, 0.04, b"HTTP/1.0 200 OK\r\n\r\nuntil close", 0.001);
            server_fin(cap, conv, 0.05);
        },
        &[],
    );
    let http = http(&report);
    assert_eq!(http["persistent"], true);
    assert_eq!(http["exchanges"][0]["persistence"], "kept");
    assert_eq!(http["exchanges"][0]["rule"], "http10-keep-alive");
    assert_eq!(
        http["exchanges"][0]["response_keep_alive"],
        "timeout=5, max=100"
    );
    assert_eq!(http["exchanges"][1]["persistence"], "not-offered");
    assert_eq!(
        http["exchanges"][1]["rule"],
        "http10-request-without-keep-alive"
    );
    assert_eq!(http["closed_by"], "server");
    assert_eq!(http["close_kind"], "fin");
}

#[test]
fn a_request_racing_the_servers_idle_close_is_an_error() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(cap, 0.01, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            conv.server_sends(cap, 0.02, &response("ok", ""), 0.001);
            // The server's keep-alive timeout (5 s) fires; the client reuses the connection
            // before the FIN reached it, and the server answers with RST.
            server_fin(cap, conv, 5.02);
            cap.tcp(
                5.0205,
                seg(CLIENT, SERVER)
                    .flags(ACK | PSH)
                    .seq(conv.client_seq)
                    .ack(conv.server_seq.wrapping_sub(1))
                    .payload(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"),
            );
            cap.tcp(5.021, seg(SERVER, CLIENT).flags(RST).seq(conv.server_seq));
        },
        &[],
    );
    let http = http(&report);
    assert_eq!(http["request_on_closing_connection"], true);
    assert_eq!(http["closed_by"], "server");
    let races = findings(&report, "http-reuse-race");
    assert_eq!(races.len(), 1, "{:#}", report["findings"]);
    assert_eq!(races[0]["severity"], "error");
    assert_eq!(races[0]["evidence"]["answered_by_rst"], true);
}

#[test]
fn an_idle_close_by_the_server_estimates_its_timeout() {
    let report = analyze_with(
        |cap, conv| {
            conv.client_sends(cap, 0.01, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", 0.001);
            conv.server_sends(
                cap,
                0.02,
                &response("ok", "Connection: keep-alive\r\n"),
                0.001,
            );
            server_fin(cap, conv, 75.02);
            client_fin(cap, conv, 75.021);
        },
        &[],
    );
    let http = http(&report);
    assert!((http["idle_before_close_s"].as_f64().unwrap() - 75.0).abs() < 0.01);
    let idle = findings(&report, "http-idle-close");
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0]["severity"], "info");
    assert_eq!(idle[0]["evidence"]["closed_by"], "server");
    assert!(idle[0]["advice"].as_str().unwrap().contains("below 75.0 s"));
}

/// A client → proxy → origin chain: 3 keep-alive requests in front, 3 HTTP/1.0 close
/// connections behind, the proxy announcing `server`.
fn proxy_chain(server: &str, forwarded_extra: &str, front_extra: &str) -> Capture {
    let mut cap = Capture::new(Link::Ethernet);
    let mut front = Conversation::new("10.0.0.5:40000", "10.0.0.10:80", 1000, 5000);
    front.handshake(&mut cap, 0.0, 0.002);
    for index in 0..3u16 {
        let t = 0.1 + f64::from(index);
        let request =
            format!("GET /item/{index}?token=abc HTTP/1.1\r\nHost: shop\r\n{front_extra}\r\n");
        front.client_sends(&mut cap, t, request.as_bytes(), 0.0005);
        let mut back = Conversation::new(
            &format!("10.0.1.1:{}", 50000 + index),
            "10.0.1.7:8080",
            100,
            900,
        );
        back.handshake(&mut cap, t + 0.001, 0.001);
        let upstream = format!(
            "GET /item/{index}?token=abc HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n{forwarded_extra}\r\n"
        );
        back.client_sends(&mut cap, t + 0.003, upstream.as_bytes(), 0.0005);
        back.server_sends(&mut cap, t + 0.005, &response("x", ""), 0.0005);
        server_fin(&mut cap, &mut back, t + 0.006);
        client_fin(&mut cap, &mut back, t + 0.0065);
        let proxied = format!("Server: {server}\r\nConnection: keep-alive\r\n");
        front.server_sends(&mut cap, t + 0.007, &response("x", &proxied), 0.0005);
    }
    cap
}

#[test]
fn a_proxy_closing_upstream_connections_is_found_across_hops() {
    let dir = tempfile::tempdir().unwrap();
    let path = proxy_chain("nginx/1.22.1", "", "").write(dir.path(), "chain.pcap");
    let report = analyze_json(&[&path], &[]);
    let hops = report["http_hops"].as_array().expect("http_hops");
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0]["server"], "10.0.0.10:80");
    assert_eq!(hops[0]["mode"], "keep-alive");
    assert_eq!(hops[0]["connections"], 1);
    assert_eq!(hops[0]["requests"], 3);
    assert_eq!(hops[1]["client"], "10.0.1.1");
    assert_eq!(hops[1]["server"], "10.0.1.7:8080");
    assert_eq!(hops[1]["mode"], "close");
    assert_eq!(hops[1]["connections"], 3);
    assert_eq!(hops[1]["requests_per_connection"], 1.0);
    assert_eq!(hops[1]["forwarded_from"], 1);
    assert_eq!(
        hops[1]["versions"]["request"],
        serde_json::json!(["HTTP/1.0"])
    );
    let found = findings(&report, "http-upstream-no-keepalive");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["subject"], "http-hop/2");
    let advice = found[0]["advice"].as_str().unwrap();
    assert!(advice.contains("proxy_http_version 1.1;"), "{advice}");
    assert!(
        advice.contains("proxy_set_header Connection \"\";"),
        "{advice}"
    );
    assert!(
        advice.contains("HAProxy") && advice.contains("Envoy"),
        "{advice}"
    );
}

#[test]
fn nginx_advice_follows_the_version_in_the_server_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = proxy_chain("nginx/1.30.0", "", "").write(dir.path(), "chain.pcap");
    let report = analyze_json(&[&path], &[]);
    let found = findings(&report, "http-upstream-no-keepalive");
    assert_eq!(found.len(), 1);
    let advice = found[0]["advice"].as_str().unwrap();
    assert!(
        advice.contains("nginx 1.30.0 keeps upstream connections alive by default"),
        "{advice}"
    );
    assert!(!advice.contains("before 1.29.7"), "{advice}");
}

#[test]
fn forwarded_hop_by_hop_fields_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = proxy_chain(
        "nginx/1.22.1",
        "X-Trace-Hop: 1\r\n",
        "Connection: X-Trace-Hop\r\nX-Trace-Hop: 1\r\n",
    )
    .write(dir.path(), "chain.pcap");
    let report = analyze_json(&[&path], &[]);
    let found = findings(&report, "http-hop-by-hop-forwarded");
    assert_eq!(found.len(), 1, "{:#}", report["findings"]);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("x-trace-hop")
    );
    let clean = proxy_chain(
        "nginx/1.22.1",
        "",
        "Connection: X-Trace-Hop\r\nX-Trace-Hop: 1\r\n",
    )
    .write(dir.path(), "clean.pcap");
    assert!(findings(&analyze_json(&[&clean], &[]), "http-hop-by-hop-forwarded").is_empty());
}

#[test]
fn secrets_never_reach_any_output_without_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new(CLIENT, SERVER, 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    conv.client_sends(
        &mut cap,
        0.01,
        b"GET /login?password=QUERYSECRET HTTP/1.1\r\nHost: x\r\nAuthorization: Basic AUTHSECRET\r\nProxy-Authorization: Basic PROXYSECRET\r\nCookie: sid=COOKIESECRET\r\n\r\n",
        0.001,
    );
    conv.server_sends(
        &mut cap,
        0.02,
        &response(
            "ok",
            "Set-Cookie: sid=SETCOOKIESECRET\r\nConnection: close\r\n",
        ),
        0.001,
    );
    server_fin(&mut cap, &mut conv, 0.03);
    let path = cap.write(dir.path(), "secrets.pcap");
    let path_text = path.display().to_string();
    let secrets = [
        "QUERYSECRET",
        "AUTHSECRET",
        "PROXYSECRET",
        "COOKIESECRET",
        "SETCOOKIESECRET",
    ];
    for format in ["table", "json", "jsonl"] {
        let (status, stdout, stderr) = kaprobe(&[
            "analyze",
            &path_text,
            "--format",
            format,
            "--fail-on",
            "never",
            "--timeline",
            "--all",
        ]);
        assert_eq!(status, 0, "{stderr}");
        assert!(
            stdout.contains("/login") || format == "table",
            "{format}: {stdout}"
        );
        for secret in secrets {
            assert!(!stdout.contains(secret), "{secret} in {format} output");
            assert!(!stderr.contains(secret), "{secret} in {format} errors");
        }
    }
    let shown = analyze_json(&[&path], &["--show-secrets"]);
    assert_eq!(
        http(&shown)["exchanges"][0]["target"],
        "/login?password=QUERYSECRET"
    );
}

// ---- real captures -------------------------------------------------------------------------

/// tshark's counts for the corpus files (baseline.tsv columns http_req, http_resp).
fn baseline_counts(corpus: &Path, file: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(corpus.join("baseline.tsv")).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split('\t').collect();
    let request_column = header.iter().position(|h| *h == "http_req")?;
    let response_column = header.iter().position(|h| *h == "http_resp")?;
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(&format!("{file}\t")))?
        .split('\t')
        .collect();
    Some((
        row.get(request_column)?.parse().ok()?,
        row.get(response_column)?.parse().ok()?,
    ))
}

#[test]
fn corpus_message_counts_match_tshark() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("skipped: set KAPROBE_CORPUS to the real-capture corpus");
        return;
    };
    for file in [
        "zeek__http__pipelined-requests.pcap",
        "zeek__http__100-continue.pcap",
        "zeek__http__1000-requests-one-dropped-response.pcap",
        "zeek__http__proxy.pcap",
        "ndpi__http_connect.pcap",
        "ndpi__http-proxy.pcapng",
        "pcapplusplus__four_ipv6_http_streams.pcap",
        "zeek__http__http-non-printable-characters.pcap",
        "zeek__http__vnd.ms-cab-compressed-multi-conn.pcap",
        "zeek__http__docker-http-upgrade.pcap",
    ] {
        let expected = baseline_counts(&corpus, file).expect("baseline row");
        let report = analyze_json(&[&corpus.join(file)], &[]);
        let counted = (
            report["summary"]["http_requests"].as_u64().unwrap(),
            report["summary"]["http_responses"].as_u64().unwrap(),
        );
        assert_eq!(counted, expected, "{file}");
    }
}

#[test]
fn corpus_tunnels_and_pipelines_are_recognised() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("skipped: set KAPROBE_CORPUS to the real-capture corpus");
        return;
    };
    let report = analyze_json(&[&corpus.join("ndpi__http_connect.pcap")], &[]);
    let tunnels: Vec<&Value> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["http"]["tunnel"] == "connect")
        .collect();
    assert_eq!(tunnels.len(), 1);
    let report = analyze_json(&[&corpus.join("zeek__http__pipelined-requests.pcap")], &[]);
    let hops = report["http_hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0]["mode"], "keep-alive");
    assert_eq!(hops[0]["requests"], 5);
    assert_eq!(hops[0]["connections"], 1);
    // The 100-continue exchange: interim 100, then a final response with Connection: close.
    let report = analyze_json(&[&corpus.join("zeek__http__100-continue.pcap")], &[]);
    let exchange = &report["connections"][0]["http"]["exchanges"][0];
    assert_eq!(exchange["interim"], serde_json::json!([100]));
    assert_eq!(exchange["rule"], "response-connection-close");
}

fn lab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KAPROBE_LAB_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures"));
    dir.is_dir().then_some(dir)
}

/// Runs a lab scenario (both vantage points) and returns (truth, report), or None when absent.
fn lab_scenario(name: &str) -> Option<(Value, Value)> {
    let Some(dir) = lab_dir() else {
        eprintln!("skipped: no fixtures/lab/captures (lab captures not merged yet)");
        return None;
    };
    let truth_path = dir.join(format!("{name}.truth.json"));
    let client = dir.join(format!("{name}.client.pcap"));
    let upstream = dir.join(format!("{name}.upstream.pcap"));
    if !(truth_path.is_file() && client.is_file() && upstream.is_file()) {
        eprintln!("skipped: lab scenario {name} not recorded");
        return None;
    }
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth_path).ok()?).ok()?;
    if truth["skipped"] == true {
        eprintln!("skipped: lab scenario {name} was skipped when recorded");
        return None;
    }
    Some((truth, analyze_json(&[&client, &upstream], &[])))
}

fn hops_to<'a>(report: &'a Value, servers: &[&str]) -> Vec<&'a Value> {
    report["http_hops"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|h| servers.iter().any(|s| h["server"] == *s))
                .collect()
        })
        .unwrap_or_default()
}

fn sum(hops: &[&Value], field: &str) -> u64 {
    hops.iter().map(|h| h[field].as_u64().unwrap_or(0)).sum()
}

/// Checks the client hop and the upstream hop(s) against `expect.hops` of a truth file.
fn check_lab_hops(name: &str) -> Option<Value> {
    let (truth, report) = lab_scenario(name)?;
    let expect = &truth["expect"]["hops"];
    let front = hops_to(&report, &[expect["client"]["server"].as_str().unwrap()]);
    assert_eq!(front.len(), 1, "{name}: front hop");
    assert_eq!(
        front[0]["connections"], expect["client"]["connections"],
        "{name}"
    );
    assert_eq!(front[0]["requests"], expect["client"]["requests"], "{name}");
    assert_eq!(front[0]["mode"], expect["client"]["mode"], "{name}");
    let request_version = &expect["client"]["request_version"];
    assert_eq!(
        front[0]["versions"]["request"][0], *request_version,
        "{name}"
    );
    let upstream_expect = &expect["upstream"];
    let servers: Vec<&str> = match upstream_expect["servers"].as_array() {
        Some(list) => list.iter().filter_map(Value::as_str).collect(),
        None => vec![upstream_expect["server"].as_str().unwrap()],
    };
    let upstream = hops_to(&report, &servers);
    assert!(!upstream.is_empty(), "{name}: upstream hops");
    assert_eq!(
        sum(&upstream, "requests"),
        upstream_expect["requests"].as_u64().unwrap(),
        "{name}"
    );
    if let Some(connections) = upstream_expect["connections"].as_u64() {
        assert_eq!(sum(&upstream, "connections"), connections, "{name}");
    }
    if let Some(minimum) = upstream_expect["connections_min"].as_u64() {
        assert!(sum(&upstream, "connections") >= minimum, "{name}");
    }
    if let Some(mode) = upstream_expect["mode"].as_str() {
        assert!(upstream.iter().all(|h| h["mode"] == mode), "{name}");
    }
    for hop in &upstream {
        assert_eq!(
            hop["forwarded_from"], front[0]["hop"],
            "{name}: upstream hop linked to the front"
        );
    }
    Some(report)
}

#[test]
fn lab_nginx_default_upstream_is_http10_close_behind_keep_alive() {
    let Some(report) = check_lab_hops("nginx-default-upstream") else {
        return;
    };
    let found = findings(&report, "http-upstream-no-keepalive");
    assert_eq!(found.len(), 1);
    assert!(
        found[0]["advice"]
            .as_str()
            .unwrap()
            .contains("nginx 1.22.1")
    );
}

#[test]
fn lab_nginx_upstream_keepalive_reuses_one_connection() {
    let Some(report) = check_lab_hops("nginx-upstream-keepalive") else {
        return;
    };
    assert!(findings(&report, "http-upstream-no-keepalive").is_empty());
    assert!(findings(&report, "http-keepalive-pool-churn").is_empty());
}

#[test]
fn lab_nginx_http10_client_keeps_alive_in_front() {
    let Some(report) = check_lab_hops("nginx-http10-client") else {
        return;
    };
    assert_eq!(findings(&report, "http-upstream-no-keepalive").len(), 1);
}

#[test]
fn lab_nginx_idle_close_shows_the_servers_timeout() {
    let Some((truth, report)) = lab_scenario("nginx-idle-close") else {
        return;
    };
    check_lab_hops("nginx-idle-close");
    let expected = truth["expect"]["idle_before_close_s"].as_f64().unwrap();
    let front = connection(
        &report,
        truth["expect"]["hops"]["client"]["server"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(front["http"]["closed_by"], "server");
    let idle = front["http"]["idle_before_close_s"].as_f64().unwrap();
    assert!((idle - expected).abs() < 0.2, "idle {idle} vs {expected}");
    let found = findings(&report, "http-idle-close");
    assert!(found.iter().any(|f| f["evidence"]["closed_by"] == "server"));
}

#[test]
fn lab_nginx_pool_churn_is_reported_once_for_the_upstream() {
    let Some((truth, report)) = lab_scenario("nginx-pool-churn") else {
        return;
    };
    check_lab_hops("nginx-pool-churn");
    let found = findings(&report, "http-keepalive-pool-churn");
    assert_eq!(truth["expect"]["upstream_pool_churn"], true);
    assert_eq!(found.len(), 1, "{:#}", report["findings"]);
    let servers = found[0]["evidence"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
}
