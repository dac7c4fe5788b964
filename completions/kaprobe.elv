
use builtin;
use str;

set edit:completion:arg-completer[kaprobe] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'kaprobe'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'kaprobe'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand analyze 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)'
            cand capture 'Capture from a live interface (libpcap) and analyze while capturing'
            cand sysctl 'Check this host''s TCP keepalive sysctls against the devices it sits behind'
            cand sockets 'List this host''s TCP sockets with their keepalive timers and owners'
            cand explain 'Explain a finding code: what it means, why it happens, what to do'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaprobe;analyze'= {
            cand --format 'Output format'
            cand --fail-on 'Exit with status 1 when a finding of this severity or worse is reported'
            cand --color 'When to use colours in the table'
            cand --idle-threshold 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)'
            cand --middlebox-timeout 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest'
            cand --max-connections 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)'
            cand --findings-per-code 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding'
            cand --host 'Analyze only packets from or to this address (repeatable)'
            cand --port 'Analyze only TCP packets from or to this port (repeatable)'
            cand --threads 'Threads to use; 0 (the default) means one more than the cores, at most 8. With 2, one thread reads while another analyzes; from 3 on, one reads and the others analyze connections sharded by their tuple, and JSON is rendered on several. The report is the same whatever the number'
            cand -q 'No progress bar on stderr'
            cand --quiet 'No progress bar on stderr'
            cand --timeline 'Print, for each connection or VRRP group with a finding, its chronological timeline'
            cand --all 'With --timeline: timelines for every connection, not only those with findings'
            cand --show-secrets 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting'
            cand --one-vantage 'The files are consecutive parts of one capture (kaprobe capture --rotate-size, tcpdump -C/-G): connections continue from one file to the next. Without it, each file is a separate vantage point and the same connection in two files is compared'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'kaprobe;capture'= {
            cand -i 'Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default: libpcap''s default device'
            cand --interface 'Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default: libpcap''s default device'
            cand -f 'Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g. ''tcp port 443 or vrrp'''
            cand --filter 'Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g. ''tcp port 443 or vrrp'''
            cand --duration 'Stop after this long (e.g. 30s, 10m, 2h). Default: until Ctrl-C or SIGTERM'
            cand -c 'Stop after this many packets'
            cand --count 'Stop after this many packets'
            cand -w 'Also write the raw capture to FILE (classic pcap), flushed as it goes'
            cand --write 'Also write the raw capture to FILE (classic pcap), flushed as it goes'
            cand --rotate-size 'With -w: start a new file (for -w ka.pcap: ka.1.pcap, ka.2.pcap, ...) before one would exceed SIZE (bytes, or with a K/M/G suffix: 1024-based)'
            cand --snaplen 'Bytes of each packet to keep'
            cand --buffer-size 'Kernel capture buffer size (bytes, or with a K/M/G suffix). Raise it when drops are reported'
            cand --format 'Output format'
            cand --fail-on 'Exit with status 1 when a finding of this severity or worse is reported'
            cand --color 'When to use colours in the table'
            cand --idle-threshold 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)'
            cand --middlebox-timeout 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest'
            cand --max-connections 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)'
            cand --findings-per-code 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding'
            cand -p 'Do not put the interface into promiscuous mode (only traffic to and from this host, broadcast and joined multicast groups are seen)'
            cand --no-promisc 'Do not put the interface into promiscuous mode (only traffic to and from this host, broadcast and joined multicast groups are seen)'
            cand --immediate 'Immediate mode: packets are delivered one by one as they arrive instead of in blocks (more responsive, more CPU)'
            cand --list-interfaces 'List the interfaces libpcap can capture on, and exit'
            cand -q 'No progress bar on stderr'
            cand --quiet 'No progress bar on stderr'
            cand --timeline 'Print, for each connection or VRRP group with a finding, its chronological timeline'
            cand --all 'With --timeline: timelines for every connection, not only those with findings'
            cand --show-secrets 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'kaprobe;sysctl'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand check 'Check this host''s TCP keepalive settings against the devices it sits behind'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaprobe;sysctl;check'= {
            cand --format 'Output format'
            cand --fail-on 'Exit with status 1 when a finding of this severity or worse is reported'
            cand --color 'When to use colours in the table'
            cand --root 'Read DIR/proc/sys/... instead of /proc/sys (an unpacked sosreport, a copied tree)'
            cand --netns 'Read the values of network namespace NAME (as listed by `ip netns list`); kaprobe re-runs itself under `ip netns exec NAME`, which needs root'
            cand --middlebox-timeout 'Idle timeout of a layer-4 device on the path (load balancer, NAT, firewall); repeatable'
            cand --middlebox 'A device on the path by name, with its documented default idle timeout; repeatable. `--list-middleboxes` shows the names'
            cand --dead-peer-target 'Longest acceptable time to notice a silently dead idle peer (keepalive_time + keepalive_intvl × keepalive_probes)'
            cand -q 'No progress bar on stderr'
            cand --quiet 'No progress bar on stderr'
            cand --list-middleboxes 'Print the table of known middleboxes, their idle timeouts and sources, and exit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'kaprobe;sysctl;help'= {
            cand check 'Check this host''s TCP keepalive settings against the devices it sits behind'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaprobe;sysctl;help;check'= {
        }
        &'kaprobe;sysctl;help;help'= {
        }
        &'kaprobe;sockets'= {
            cand --format 'Output format'
            cand --fail-on 'Exit with status 1 when a finding of this severity or worse is reported'
            cand --color 'When to use colours in the table'
            cand --root 'Read DIR/proc/net/tcp{,6} and DIR/proc/PID/fd instead of /proc'
            cand --netns 'List the sockets of network namespace NAME (re-runs under `ip netns exec NAME`)'
            cand -q 'No progress bar on stderr'
            cand --quiet 'No progress bar on stderr'
            cand --established 'Only ESTABLISHED connections'
            cand --no-keepalive 'Only sockets without an armed keepalive timer'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'kaprobe;explain'= {
            cand --list 'List every finding code with its severity and title'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'kaprobe;help'= {
            cand analyze 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)'
            cand capture 'Capture from a live interface (libpcap) and analyze while capturing'
            cand sysctl 'Check this host''s TCP keepalive sysctls against the devices it sits behind'
            cand sockets 'List this host''s TCP sockets with their keepalive timers and owners'
            cand explain 'Explain a finding code: what it means, why it happens, what to do'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaprobe;help;analyze'= {
        }
        &'kaprobe;help;capture'= {
        }
        &'kaprobe;help;sysctl'= {
            cand check 'Check this host''s TCP keepalive settings against the devices it sits behind'
        }
        &'kaprobe;help;sysctl;check'= {
        }
        &'kaprobe;help;sockets'= {
        }
        &'kaprobe;help;explain'= {
        }
        &'kaprobe;help;help'= {
        }
    ]
    $completions[$command]
}
