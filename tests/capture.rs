//! `kaprobe capture`: live capture through libpcap, analyzed as it runs.
//!
//! With the `capture` feature, the tests capture real kernel traffic inside network namespaces
//! they create (so no traffic leaves them and no host interface is touched): a python3 client
//! with a 1 s TCP_KEEPIDLE idling against a python3 server on the namespace's loopback. They
//! need root (CAP_SYS_ADMIN for `ip netns`, CAP_NET_RAW for capturing) and skip with a message
//! otherwise. Every process started is stopped by its PID, every wait is bounded, and each
//! namespace is deleted when its guard is dropped, also when an assertion fails.

mod support;

#[cfg(not(feature = "capture"))]
#[test]
fn without_the_feature_capture_explains_how_to_get_it() {
    let (status, stdout, stderr) =
        support::kaprobe(&["capture", "-i", "eth0", "-f", "tcp port 443 or vrrp"]);
    assert_eq!(status, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("apt-get install libpcap-dev"), "{stderr}");
    assert!(
        stderr.contains("cargo build --release --features capture"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tcpdump -i eth0 -U -w - 'tcp port 443 or vrrp' | kaprobe analyze -"),
        "{stderr}"
    );
}

#[cfg(feature = "capture")]
mod live {
    use super::support::analyze_json;
    use serde_json::Value;
    use std::io::{BufRead, BufReader, Read};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc::{self, Receiver};
    use std::time::{Duration, Instant};

    const KAPROBE: &str = env!("CARGO_BIN_EXE_kaprobe");

    /// Server and client in one process: the client connects, exchanges a few bytes, enables
    /// keepalive with a 1 s idle time and interval, idles IDLE seconds, and closes. Every
    /// blocking call has a timeout, so the script ends on its own.
    const KEEPALIVE_SCRIPT: &str = r#"
import socket, sys, threading, time
port = int(sys.argv[1]); idle = float(sys.argv[2])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port)); server.listen(1); server.settimeout(idle + 5)
def serve():
    conn, _ = server.accept(); conn.settimeout(idle + 5)
    conn.recv(100); conn.sendall(b"ok")
    try: conn.recv(100)
    except OSError: pass
    conn.close()
thread = threading.Thread(target=serve); thread.start()
client = socket.create_connection(("127.0.0.1", port), timeout=5)
client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
client.sendall(b"hello"); client.recv(100)
time.sleep(idle)
client.close(); thread.join(idle + 6)
"#;

    /// A network namespace with its loopback up, deleted on drop.
    struct Namespace {
        name: String,
    }

    impl Namespace {
        /// `None` (after saying why on stderr) when the test cannot run here.
        fn create(test: &str) -> Option<Namespace> {
            if !is_root() {
                eprintln!("SKIPPED {test}: needs root for network namespaces and capturing");
                return None;
            }
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "kaprobe-cap-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            if !run_quietly("ip", &["netns", "add", &name]) {
                eprintln!("SKIPPED {test}: `ip netns add` failed (no namespace support here)");
                return None;
            }
            let namespace = Namespace { name };
            assert!(
                run_quietly("ip", &["-n", &namespace.name, "link", "set", "lo", "up"]),
                "bringing lo up in {}",
                namespace.name
            );
            Some(namespace)
        }

        /// A command run inside the namespace (`ip netns exec` execs it: same PID).
        fn command(&self, program: &str, args: &[&str]) -> Command {
            let mut command = Command::new("ip");
            command
                .args(["netns", "exec", &self.name, program])
                .args(args);
            command
        }

        fn kaprobe(&self, args: &[&str]) -> (i32, String, String) {
            let output = self
                .command("timeout", &[&["30", KAPROBE], args].concat())
                .output()
                .expect("run kaprobe");
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }

        /// Runs the keepalive script to its end (at most 30 s).
        fn keepalive_traffic(&self, dir: &Path, port: u16, idle_seconds: f64) {
            let script = dir.join("keepalive.py");
            std::fs::write(&script, KEEPALIVE_SCRIPT).expect("write script");
            let status = self
                .command(
                    "timeout",
                    &[
                        "30",
                        "python3",
                        &script.display().to_string(),
                        &port.to_string(),
                        &idle_seconds.to_string(),
                    ],
                )
                .status()
                .expect("run python3");
            assert!(status.success(), "keepalive script failed: {status}");
        }
    }

    impl Drop for Namespace {
        fn drop(&mut self) {
            run_quietly("ip", &["netns", "del", &self.name]);
        }
    }

    /// A kaprobe capture running in the background; killed by PID if still running on drop.
    struct RunningCapture {
        child: Child,
        stderr_lines: Receiver<String>,
        stderr_seen: Vec<String>,
        stdout: Option<std::thread::JoinHandle<String>>,
    }

    impl RunningCapture {
        /// Starts `kaprobe capture ARGS` and waits (at most 15 s) until it says it captures.
        fn start(namespace: &Namespace, args: &[&str]) -> RunningCapture {
            let mut child = namespace
                .command(KAPROBE, &[&["capture"], args].concat())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start kaprobe capture");
            let mut stdout_pipe = child.stdout.take().expect("stdout");
            let stdout = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stdout_pipe.read_to_string(&mut text);
                text
            });
            let stderr_pipe = child.stderr.take().expect("stderr");
            let (sender, stderr_lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut running = RunningCapture {
                child,
                stderr_lines,
                stderr_seen: Vec::new(),
                stdout: Some(stdout),
            };
            running.wait_for_stderr("capturing on", Duration::from_secs(15));
            running
        }

        fn wait_for_stderr(&mut self, needle: &str, limit: Duration) {
            let deadline = Instant::now() + limit;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.stderr_lines.recv_timeout(left) {
                    Ok(line) => {
                        let found = line.contains(needle);
                        self.stderr_seen.push(line);
                        if found {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            panic!(
                "kaprobe did not print '{needle}' within {limit:?}; stderr so far: {:?}",
                self.stderr_seen
            );
        }

        fn pid(&self) -> String {
            self.child.id().to_string()
        }

        /// Waits (at most `limit`) for the exit; returns (status, stdout, stderr).
        fn wait(mut self, limit: Duration) -> (i32, String, String) {
            let deadline = Instant::now() + limit;
            let status = loop {
                if let Some(status) = self.child.try_wait().expect("try_wait") {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "kaprobe capture still running after {limit:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            let stdout = self
                .stdout
                .take()
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default();
            while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_secs(2)) {
                self.stderr_seen.push(line);
            }
            (
                status.code().unwrap_or(-1),
                stdout,
                self.stderr_seen.join("\n"),
            )
        }
    }

    impl Drop for RunningCapture {
        fn drop(&mut self) {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }

    fn run_quietly(program: &str, args: &[&str]) -> bool {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .is_some_and(|effective| effective == "0")
        })
    }

    fn parse_json(stdout: &str, stderr: &str) -> Value {
        serde_json::from_str(stdout)
            .unwrap_or_else(|error| panic!("invalid JSON ({error}): {stdout}\nstderr: {stderr}"))
    }

    #[test]
    fn keepalive_probes_of_an_idle_client_are_seen_live_and_in_the_written_file() {
        let Some(namespace) = Namespace::create("keepalive capture") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let written = dir.path().join("ka.pcap");
        let written_text = written.display().to_string();
        let document = RunningCapture::start(
            &namespace,
            &[
                "-i",
                "lo",
                "-f",
                "tcp port 8080",
                "--duration",
                "6s",
                "--format",
                "json",
                "--fail-on",
                "never",
                "-w",
                &written_text,
            ],
        );
        let lines = RunningCapture::start(
            &namespace,
            &["-i", "lo", "--duration", "6s", "--format", "jsonl"],
        );
        namespace.keepalive_traffic(dir.path(), 8080, 4.0);

        let (status, stdout, stderr) = document.wait(Duration::from_secs(20));
        assert_eq!(status, 0, "{stderr}");
        let report = parse_json(&stdout, &stderr);
        let probes = report["summary"]["keepalive_probes"].as_u64().unwrap_or(0);
        // 4 s idle with a 1 s idle time and interval: probes at about 1, 2 and 3 s.
        assert!(probes >= 2, "{}", report["summary"]);
        assert_eq!(report["summary"]["tcp_connections"], 1);
        assert_eq!(report["inputs"][0]["path"], "lo");
        assert_eq!(report["inputs"][0]["format"], "live");
        assert_eq!(report["capture"]["stop_reason"], "duration");
        assert_eq!(report["capture"]["filter"], "tcp port 8080");
        assert!(stderr.contains("dropped by kernel"), "{stderr}");
        let statistics = &report["capture"]["statistics"];
        assert_eq!(statistics["dropped_by_kernel"], 0, "{statistics}");
        assert!(
            statistics["received"].as_u64().unwrap_or(0) >= probes,
            "{statistics}"
        );

        let reread = analyze_json(&[&written], &[]);
        assert_eq!(reread["summary"]["keepalive_probes"], probes);
        assert_eq!(
            reread["summary"]["packets"],
            report["capture"]["packets_captured"]
        );

        let (status, stdout, stderr) = lines.wait(Duration::from_secs(20));
        assert_eq!(status, 0, "{stderr}");
        let lines: Vec<Value> = stdout.lines().map(|l| parse_json(l, &stderr)).collect();
        let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
        assert!(kinds.contains(&"connection"), "{kinds:?}");
        assert!(kinds.contains(&"capture"), "{kinds:?}");
        let closing = lines.last().expect("a closing line");
        assert_eq!(closing["type"], "summary");
        assert!(closing["summary"]["keepalive_probes"].as_u64().unwrap_or(0) >= 2);
    }

    #[test]
    fn a_filter_that_matches_nothing_gives_an_empty_valid_report() {
        let Some(namespace) = Namespace::create("empty filter") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let capture = RunningCapture::start(
            &namespace,
            &[
                "-i",
                "lo",
                "-f",
                "tcp port 9",
                "--duration",
                "3s",
                "--format",
                "json",
            ],
        );
        // Traffic the filter excludes.
        namespace.keepalive_traffic(dir.path(), 8081, 0.5);
        let (status, stdout, stderr) = capture.wait(Duration::from_secs(20));
        assert_eq!(status, 0, "{stderr}");
        let report = parse_json(&stdout, &stderr);
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["summary"]["packets"], 0);
        assert_eq!(report["inputs"][0]["packets"], 0);
        assert_eq!(report["connections"], Value::Array(Vec::new()));
        assert_eq!(report["findings"], Value::Array(Vec::new()));
        assert_eq!(report["capture"]["packets_captured"], 0);
    }

    #[test]
    fn a_bad_filter_is_a_clear_error_with_status_2() {
        let Some(namespace) = Namespace::create("bad filter") else {
            return;
        };
        let (status, stdout, stderr) =
            namespace.kaprobe(&["capture", "-i", "lo", "-f", "tcp port", "--duration", "1s"]);
        assert_eq!(status, 2, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("invalid capture filter 'tcp port'"),
            "{stderr}"
        );
        assert!(stderr.contains("pcap-filter"), "{stderr}");
    }

    #[test]
    fn a_missing_interface_is_a_clear_error_with_status_2() {
        let Some(namespace) = Namespace::create("missing interface") else {
            return;
        };
        let (status, stdout, stderr) =
            namespace.kaprobe(&["capture", "-i", "nosuch0", "--duration", "1s"]);
        assert_eq!(status, 2, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("there is no interface named 'nosuch0'"),
            "{stderr}"
        );
        assert!(
            stderr.contains("lo"),
            "names the interfaces that exist: {stderr}"
        );
        assert!(stderr.contains("--list-interfaces"), "{stderr}");
    }

    #[test]
    fn without_cap_net_raw_the_error_says_how_to_grant_it() {
        let Some(namespace) = Namespace::create("no CAP_NET_RAW") else {
            return;
        };
        if !run_quietly("setpriv", &["--version"]) {
            eprintln!("SKIPPED no CAP_NET_RAW: setpriv (util-linux) is not installed");
            return;
        }
        // Root keeps no capability outside its bounding and inheritable sets across exec.
        let output = namespace
            .command(
                "setpriv",
                &[
                    "--bounding-set=-net_raw,-net_admin",
                    "--inh-caps=-net_raw,-net_admin",
                    "timeout",
                    "30",
                    KAPROBE,
                    "capture",
                    "-i",
                    "lo",
                    "--duration",
                    "1s",
                ],
            )
            .output()
            .expect("run setpriv");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
        assert!(
            stderr.contains("setcap cap_net_raw,cap_net_admin=eip $(command -v kaprobe)"),
            "{stderr}"
        );
    }

    #[test]
    fn sigterm_stops_the_capture_with_a_report_and_complete_rotated_files() {
        let Some(namespace) = Namespace::create("SIGTERM") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let written = dir.path().join("any.pcap");
        let written_text = written.display().to_string();
        let capture = RunningCapture::start(
            &namespace,
            &[
                "-i",
                "any",
                "--format",
                "json",
                "-w",
                &written_text,
                "--rotate-size",
                "600",
            ],
        );
        namespace.keepalive_traffic(dir.path(), 8082, 0.2);
        // Give libpcap's block timeout (100 ms) time to deliver the last frames.
        std::thread::sleep(Duration::from_millis(500));
        assert!(run_quietly("kill", &["-TERM", &capture.pid()]));
        let (status, stdout, stderr) = capture.wait(Duration::from_secs(10));
        assert_eq!(status, 0, "{stderr}");
        let report = parse_json(&stdout, &stderr);
        assert_eq!(report["capture"]["stop_reason"], "signal");
        assert_eq!(
            report["inputs"][0]["link_types"],
            serde_json::json!(["LINUX_SLL2"])
        );
        assert_eq!(report["summary"]["tcp_connections"], 1);
        let captured = report["capture"]["packets_captured"].as_u64().unwrap_or(0);
        assert!(captured >= 8, "handshake, data, FINs: {captured}");
        let files: Vec<std::path::PathBuf> = report["capture"]["files"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_str)
                    .map(Into::into)
                    .collect()
            })
            .unwrap_or_default();
        // About 100 bytes a frame (SLL2 + IPv4 + TCP with options): several 600-byte parts.
        assert!(files.len() >= 2, "{files:?}");
        assert_eq!(files[0], written);
        let parts: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
        let reread = analyze_json(&parts, &[]);
        assert_eq!(reread["summary"]["packets"], captured);
        for input in reread["inputs"].as_array().expect("inputs") {
            assert_eq!(input["warnings"], Value::Array(Vec::new()), "{input}");
        }
    }

    #[test]
    fn an_interface_that_disappears_ends_the_capture_with_a_report_and_status_2() {
        let Some(namespace) = Namespace::create("interface disappears") else {
            return;
        };
        let ns = namespace.name.as_str();
        for command in [
            &[
                "-n", ns, "link", "add", "kp0", "type", "veth", "peer", "name", "kp1",
            ][..],
            &["-n", ns, "link", "set", "kp0", "up"],
            &["-n", ns, "link", "set", "kp1", "up"],
        ] {
            assert!(run_quietly("ip", command), "ip {command:?}");
        }
        let capture = RunningCapture::start(
            &namespace,
            &["-i", "kp0", "--duration", "15s", "--format", "json"],
        );
        assert!(run_quietly("ip", &["-n", ns, "link", "del", "kp0"]));
        let (status, stdout, stderr) = capture.wait(Duration::from_secs(10));
        assert_eq!(status, 2, "{stderr}");
        assert!(stderr.contains("ended early"), "{stderr}");
        let report = parse_json(&stdout, &stderr);
        assert_eq!(report["capture"]["stop_reason"], "error");
        let warnings = report["inputs"][0]["warnings"].to_string();
        assert!(
            warnings.contains("reading packets from kp0 failed"),
            "{warnings}"
        );
    }

    #[test]
    fn count_stops_after_that_many_packets() {
        let Some(namespace) = Namespace::create("count") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let capture = RunningCapture::start(
            &namespace,
            &[
                "-i",
                "lo",
                "--count",
                "5",
                "--duration",
                "15s",
                "--format",
                "json",
            ],
        );
        namespace.keepalive_traffic(dir.path(), 8083, 0.2);
        let (status, stdout, stderr) = capture.wait(Duration::from_secs(20));
        assert_eq!(status, 0, "{stderr}");
        let report = parse_json(&stdout, &stderr);
        assert_eq!(report["capture"]["stop_reason"], "count");
        assert_eq!(report["capture"]["packets_captured"], 5);
        assert_eq!(report["summary"]["packets"], 5);
    }

    #[test]
    fn list_interfaces_shows_the_namespace_loopback() {
        let Some(namespace) = Namespace::create("list interfaces") else {
            return;
        };
        let (status, stdout, stderr) =
            namespace.kaprobe(&["capture", "--list-interfaces", "--format", "json"]);
        assert_eq!(status, 0, "{stderr}");
        let interfaces = parse_json(&stdout, &stderr);
        let loopback = interfaces
            .as_array()
            .and_then(|all| all.iter().find(|i| i["name"] == "lo"))
            .unwrap_or_else(|| panic!("no lo in {interfaces}"));
        assert_eq!(loopback["loopback"], true);
        assert!(
            loopback["addresses"]
                .as_array()
                .is_some_and(|a| a.contains(&Value::String("127.0.0.1".into()))),
            "{loopback}"
        );
    }
}
