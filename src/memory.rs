//! Process-wide memory settings: how many malloc arenas glibc may create.
//!
//! glibc gives each thread that allocates an arena of its own (up to eight per core), and
//! each arena keeps the memory its thread freed for that thread's later use. A sharded
//! analysis has a reader, shards, a merger and a writer that all allocate, so every one
//! became an arena holding its own spare memory. Measured on the 1 GiB benchmark capture
//! (5,742 connections open at once, `--format jsonl`, `--threads 3`): 72 MiB peak RSS with
//! glibc's default, 60 MiB with two arenas, 55 MiB with one; and two arenas were also the
//! fastest (2.43 s against 2.89 s by default and 3.93 s with one, where every allocation
//! takes the same lock). Up to eight threads share two arenas; more threads get one more
//! arena per four, so that a many-core machine does not serialize on malloc's locks.
//!
//! `--format jsonl` with a writer thread gets one arena more: the writer frees every
//! connection record the shards allocated, and with the default two arenas shared by five
//! threads it waited on their locks. Measured on the 1 GiB benchmark capture (`--threads 3`,
//! 8 alternating runs each): 1.76 s with two arenas, 1.60 s with three (CPU 2.97 → 2.80 s),
//! peak RSS 49 and 43 MiB; `--format json` ran alike with two and four (1.60 s, 1.59 s).
//!
//! A user's own `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` is left alone. Other C libraries
//! (musl) and other systems have no such setting: nothing is done there.

/// Arenas for an analysis on `threads` threads, with or without a JSON lines writer thread.
pub fn arenas_for(threads: usize, writer_thread: bool) -> usize {
    threads.div_ceil(4).max(2) + usize::from(writer_thread)
}

/// Caps glibc's malloc arenas for an analysis on `threads` threads (and a JSON lines writer
/// thread, if `writer_thread`). Call it before the analysis threads start: arenas are created
/// by threads' first allocations.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_malloc_arenas(threads: usize, writer_thread: bool) {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    let arenas =
        libc::c_int::try_from(arenas_for(threads, writer_thread)).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and only changes malloc's tuning parameters; glibc
    // makes it safe to call at any time, from any thread. A refusal (return 0) leaves
    // glibc's default, which is correct, only larger.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas(_threads: usize, _writer_thread: bool) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_arenas_up_to_eight_threads_then_one_per_four() {
        let arenas: Vec<usize> = [1, 2, 3, 8, 9, 16, 64]
            .map(|threads| arenas_for(threads, false))
            .to_vec();
        assert_eq!(arenas, vec![2, 2, 2, 2, 3, 4, 16]);
    }

    #[test]
    fn a_json_lines_writer_thread_gets_an_arena_of_its_own() {
        let arenas: Vec<usize> = [2, 3, 8, 9]
            .map(|threads| arenas_for(threads, true))
            .to_vec();
        assert_eq!(arenas, vec![3, 3, 3, 4]);
    }
}
