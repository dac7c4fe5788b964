# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kaprobe_global_optspecs
    string join \n h/help V/version
end

function __fish_kaprobe_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kaprobe_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kaprobe_using_subcommand
    set -l cmd (__fish_kaprobe_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kaprobe -n "__fish_kaprobe_needs_command" -s h -l help -d 'Print help'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -s V -l version -d 'Print version'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "analyze" -d 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "capture" -d 'Capture from a live interface (libpcap) and analyze while capturing'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "sysctl" -d 'Check this host\'s TCP keepalive sysctls against the devices it sits behind'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "sockets" -d 'List this host\'s TCP sockets with their keepalive timers and owners'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "explain" -d 'Explain a finding code: what it means, why it happens, what to do'
complete -c kaprobe -n "__fish_kaprobe_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l format -d 'Output format' -r -f -a "table\t'Findings table and summary for people'
json\t'One JSON document (schema: docs/json.md)'
jsonl\t'One JSON object per line, streamed as the analysis goes'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l fail-on -d 'Exit with status 1 when a finding of this severity or worse is reported' -r -f -a "info\t''
warning\t''
error\t''
never\t'Always exit 0 unless kaprobe itself failed'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l color -d 'When to use colours in the table' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l idle-threshold -d 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l middlebox-timeout -d 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l max-connections -d 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l findings-per-code -d 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l host -d 'Analyze only packets from or to this address (repeatable)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l port -d 'Analyze only TCP packets from or to this port (repeatable)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l threads -d 'Threads to use; 0 (the default) means one more than the cores, at most 8. With 2, one thread reads while another analyzes; from 3 on, one reads and the others analyze connections sharded by their tuple, and JSON is rendered on several. The report is the same whatever the number' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -s q -l quiet -d 'No progress bar on stderr'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l timeline -d 'Print, for each connection or VRRP group with a finding, its chronological timeline'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l all -d 'With --timeline: timelines for every connection, not only those with findings'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l show-secrets -d 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -l one-vantage -d 'The files are consecutive parts of one capture (kaprobe capture --rotate-size, tcpdump -C/-G): connections continue from one file to the next. Without it, each file is a separate vantage point and the same connection in two files is compared'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand analyze" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s i -l interface -d 'Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default: libpcap\'s default device' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s f -l filter -d 'Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g. \'tcp port 443 or vrrp\'' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l duration -d 'Stop after this long (e.g. 30s, 10m, 2h). Default: until Ctrl-C or SIGTERM' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s c -l count -d 'Stop after this many packets' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s w -l write -d 'Also write the raw capture to FILE (classic pcap), flushed as it goes' -r -F
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l rotate-size -d 'With -w: start a new file (for -w ka.pcap: ka.1.pcap, ka.2.pcap, ...) before one would exceed SIZE (bytes, or with a K/M/G suffix: 1024-based)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l snaplen -d 'Bytes of each packet to keep' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l buffer-size -d 'Kernel capture buffer size (bytes, or with a K/M/G suffix). Raise it when drops are reported' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l format -d 'Output format' -r -f -a "table\t'Findings table and summary for people'
json\t'One JSON document (schema: docs/json.md)'
jsonl\t'One JSON object per line, streamed as the analysis goes'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l fail-on -d 'Exit with status 1 when a finding of this severity or worse is reported' -r -f -a "info\t''
warning\t''
error\t''
never\t'Always exit 0 unless kaprobe itself failed'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l color -d 'When to use colours in the table' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l idle-threshold -d 'Report connections idle at least this long without keepalive (e.g. 60s, 1.5m)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l middlebox-timeout -d 'Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable. Advice is computed from the smallest' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l max-connections -d 'Track at most this many connections at once; the least recently active are finished early past it (a warning says so)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l findings-per-code -d 'Table: list at most N findings of each code, the earliest; a line under the table counts the others. 0 lists all. JSON always lists every finding' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s p -l no-promisc -d 'Do not put the interface into promiscuous mode (only traffic to and from this host, broadcast and joined multicast groups are seen)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l immediate -d 'Immediate mode: packets are delivered one by one as they arrive instead of in blocks (more responsive, more CPU)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l list-interfaces -d 'List the interfaces libpcap can capture on, and exit'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s q -l quiet -d 'No progress bar on stderr'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l timeline -d 'Print, for each connection or VRRP group with a finding, its chronological timeline'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l all -d 'With --timeline: timelines for every connection, not only those with findings'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -l show-secrets -d 'Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand capture" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Check this host\'s TCP keepalive settings against the devices it sits behind'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l format -d 'Output format' -r -f -a "table\t'Findings table and summary for people'
json\t'One JSON document (schema: docs/json.md)'
jsonl\t'One JSON object per line, streamed as the analysis goes'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l fail-on -d 'Exit with status 1 when a finding of this severity or worse is reported' -r -f -a "info\t''
warning\t''
error\t''
never\t'Always exit 0 unless kaprobe itself failed'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l color -d 'When to use colours in the table' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l root -d 'Read DIR/proc/sys/... instead of /proc/sys (an unpacked sosreport, a copied tree)' -r -F
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l netns -d 'Read the values of network namespace NAME (as listed by `ip netns list`); kaprobe re-runs itself under `ip netns exec NAME`, which needs root' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l middlebox-timeout -d 'Idle timeout of a layer-4 device on the path (load balancer, NAT, firewall); repeatable' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l middlebox -d 'A device on the path by name, with its documented default idle timeout; repeatable. `--list-middleboxes` shows the names' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l dead-peer-target -d 'Longest acceptable time to notice a silently dead idle peer (keepalive_time + keepalive_intvl × keepalive_probes)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -s q -l quiet -d 'No progress bar on stderr'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -l list-middleboxes -d 'Print the table of known middleboxes, their idle timeouts and sources, and exit'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check this host\'s TCP keepalive settings against the devices it sits behind'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sysctl; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l format -d 'Output format' -r -f -a "table\t'Findings table and summary for people'
json\t'One JSON document (schema: docs/json.md)'
jsonl\t'One JSON object per line, streamed as the analysis goes'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l fail-on -d 'Exit with status 1 when a finding of this severity or worse is reported' -r -f -a "info\t''
warning\t''
error\t''
never\t'Always exit 0 unless kaprobe itself failed'"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l color -d 'When to use colours in the table' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l root -d 'Read DIR/proc/net/tcp{,6} and DIR/proc/PID/fd instead of /proc' -r -F
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l netns -d 'List the sockets of network namespace NAME (re-runs under `ip netns exec NAME`)' -r
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -s q -l quiet -d 'No progress bar on stderr'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l established -d 'Only ESTABLISHED connections'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -l no-keepalive -d 'Only sockets without an armed keepalive timer'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand sockets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand explain" -l list -d 'List every finding code with its severity and title'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand explain" -s h -l help -d 'Print help'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "analyze" -d 'Analyze capture files (pcap, pcapng, gzip of either, or - for stdin)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "capture" -d 'Capture from a live interface (libpcap) and analyze while capturing'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "sysctl" -d 'Check this host\'s TCP keepalive sysctls against the devices it sits behind'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "sockets" -d 'List this host\'s TCP sockets with their keepalive timers and owners'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "explain" -d 'Explain a finding code: what it means, why it happens, what to do'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and not __fish_seen_subcommand_from analyze capture sysctl sockets explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaprobe -n "__fish_kaprobe_using_subcommand help; and __fish_seen_subcommand_from sysctl" -f -a "check" -d 'Check this host\'s TCP keepalive settings against the devices it sits behind'
