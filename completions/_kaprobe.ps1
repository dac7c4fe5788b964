
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kaprobe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kaprobe'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kaprobe' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)')
            [CompletionResult]::new('capture', 'capture', [CompletionResultType]::ParameterValue, 'Capture from a live interface (libpcap) and analyze while capturing')
            [CompletionResult]::new('sysctl', 'sysctl', [CompletionResultType]::ParameterValue, 'Check this host''s TCP keepalive sysctls against the devices it sits behind')
            [CompletionResult]::new('sockets', 'sockets', [CompletionResultType]::ParameterValue, 'List this host''s TCP sockets with their keepalive timers and owners')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Explain a finding code: what it means, why it happens, what to do')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaprobe;analyze' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Exit with status 1 when a finding of this severity or worse is reported')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in the table')
            [CompletionResult]::new('--idle-threshold', '--idle-threshold', [CompletionResultType]::ParameterName, 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)')
            [CompletionResult]::new('--middlebox-timeout', '--middlebox-timeout', [CompletionResultType]::ParameterName, 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)')
            [CompletionResult]::new('--findings-per-code', '--findings-per-code', [CompletionResultType]::ParameterName, 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Analyze only packets from or to this address (repeatable)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Analyze only TCP packets from or to this port (repeatable)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads to use; 0 (the default) means one more than the cores, at most 8. With 2, one thread reads while another analyzes; from 3 on, one reads and the others analyze connections sharded by their tuple, and JSON is rendered on several. The report is the same whatever the number')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--timeline', '--timeline', [CompletionResultType]::ParameterName, 'Print, for each connection or VRRP group with a finding, its chronological timeline')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'With --timeline: timelines for every connection, not only those with findings')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting')
            [CompletionResult]::new('--one-vantage', '--one-vantage', [CompletionResultType]::ParameterName, 'The files are consecutive parts of one capture (kaprobe capture --rotate-size, tcpdump -C/-G): connections continue from one file to the next. Without it, each file is a separate vantage point and the same connection in two files is compared')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kaprobe;capture' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default: libpcap''s default device')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default: libpcap''s default device')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g. ''tcp port 443 or vrrp''')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g. ''tcp port 443 or vrrp''')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long (e.g. 30s, 10m, 2h). Default: until Ctrl-C or SIGTERM')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Stop after this many packets')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after this many packets')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Also write the raw capture to FILE (classic pcap), flushed as it goes')
            [CompletionResult]::new('--write', '--write', [CompletionResultType]::ParameterName, 'Also write the raw capture to FILE (classic pcap), flushed as it goes')
            [CompletionResult]::new('--rotate-size', '--rotate-size', [CompletionResultType]::ParameterName, 'With -w: start a new file (for -w ka.pcap: ka.1.pcap, ka.2.pcap, ...) before one would exceed SIZE (bytes, or with a K/M/G suffix: 1024-based)')
            [CompletionResult]::new('--snaplen', '--snaplen', [CompletionResultType]::ParameterName, 'Bytes of each packet to keep')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Kernel capture buffer size (bytes, or with a K/M/G suffix). Raise it when drops are reported')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Exit with status 1 when a finding of this severity or worse is reported')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in the table')
            [CompletionResult]::new('--idle-threshold', '--idle-threshold', [CompletionResultType]::ParameterName, 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)')
            [CompletionResult]::new('--middlebox-timeout', '--middlebox-timeout', [CompletionResultType]::ParameterName, 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)')
            [CompletionResult]::new('--findings-per-code', '--findings-per-code', [CompletionResultType]::ParameterName, 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Do not put the interface into promiscuous mode (only traffic to and from this host, broadcast and joined multicast groups are seen)')
            [CompletionResult]::new('--no-promisc', '--no-promisc', [CompletionResultType]::ParameterName, 'Do not put the interface into promiscuous mode (only traffic to and from this host, broadcast and joined multicast groups are seen)')
            [CompletionResult]::new('--immediate', '--immediate', [CompletionResultType]::ParameterName, 'Immediate mode: packets are delivered one by one as they arrive instead of in blocks (more responsive, more CPU)')
            [CompletionResult]::new('--list-interfaces', '--list-interfaces', [CompletionResultType]::ParameterName, 'List the interfaces libpcap can capture on, and exit')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--timeline', '--timeline', [CompletionResultType]::ParameterName, 'Print, for each connection or VRRP group with a finding, its chronological timeline')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'With --timeline: timelines for every connection, not only those with findings')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kaprobe;sysctl' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check this host''s TCP keepalive settings against the devices it sits behind')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaprobe;sysctl;check' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Exit with status 1 when a finding of this severity or worse is reported')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in the table')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Read DIR/proc/sys/... instead of /proc/sys (an unpacked sosreport, a copied tree)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Read the values of network namespace NAME (as listed by `ip netns list`); kaprobe re-runs itself under `ip netns exec NAME`, which needs root')
            [CompletionResult]::new('--middlebox-timeout', '--middlebox-timeout', [CompletionResultType]::ParameterName, 'Idle timeout of a layer-4 device on the path (load balancer, NAT, firewall); repeatable')
            [CompletionResult]::new('--middlebox', '--middlebox', [CompletionResultType]::ParameterName, 'A device on the path by name, with its documented default idle timeout; repeatable. `--list-middleboxes` shows the names')
            [CompletionResult]::new('--dead-peer-target', '--dead-peer-target', [CompletionResultType]::ParameterName, 'Longest acceptable time to notice a silently dead idle peer (keepalive_time + keepalive_intvl × keepalive_probes)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--list-middleboxes', '--list-middleboxes', [CompletionResultType]::ParameterName, 'Print the table of known middleboxes, their idle timeouts and sources, and exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kaprobe;sysctl;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check this host''s TCP keepalive settings against the devices it sits behind')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaprobe;sysctl;help;check' {
            break
        }
        'kaprobe;sysctl;help;help' {
            break
        }
        'kaprobe;sockets' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Exit with status 1 when a finding of this severity or worse is reported')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in the table')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Read DIR/proc/net/tcp{,6} and DIR/proc/PID/fd instead of /proc')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'List the sockets of network namespace NAME (re-runs under `ip netns exec NAME`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar on stderr')
            [CompletionResult]::new('--established', '--established', [CompletionResultType]::ParameterName, 'Only ESTABLISHED connections')
            [CompletionResult]::new('--no-keepalive', '--no-keepalive', [CompletionResultType]::ParameterName, 'Only sockets without an armed keepalive timer')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kaprobe;explain' {
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List every finding code with its severity and title')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kaprobe;help' {
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)')
            [CompletionResult]::new('capture', 'capture', [CompletionResultType]::ParameterValue, 'Capture from a live interface (libpcap) and analyze while capturing')
            [CompletionResult]::new('sysctl', 'sysctl', [CompletionResultType]::ParameterValue, 'Check this host''s TCP keepalive sysctls against the devices it sits behind')
            [CompletionResult]::new('sockets', 'sockets', [CompletionResultType]::ParameterValue, 'List this host''s TCP sockets with their keepalive timers and owners')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Explain a finding code: what it means, why it happens, what to do')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaprobe;help;analyze' {
            break
        }
        'kaprobe;help;capture' {
            break
        }
        'kaprobe;help;sysctl' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check this host''s TCP keepalive settings against the devices it sits behind')
            break
        }
        'kaprobe;help;sysctl;check' {
            break
        }
        'kaprobe;help;sockets' {
            break
        }
        'kaprobe;help;explain' {
            break
        }
        'kaprobe;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
