//! The connection table's storage: each tracked connection boxed, found by its tuple.
//!
//! A hashbrown `HashTable` of boxes, not a `HashMap<FlowKey, Box<Connection>>`: the key
//! already lives in the connection, and a map kept a second copy of it in every bucket (64
//! bytes a bucket instead of 8; with the table's load factor, about 100 bytes per open
//! connection). The caller hashes a key once ([`ConnectionTable::hash_of`]) and uses that hash
//! for every lookup of the segment, and for its tombstone.

use super::connection::Connection;
use super::hash::KeyedState;
use super::key::{ConnectionId, FlowKey};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::hash::BuildHasher;

pub struct ConnectionTable {
    table: HashTable<Box<Connection>>,
    hasher: KeyedState,
}

impl ConnectionTable {
    pub fn new() -> ConnectionTable {
        ConnectionTable {
            table: HashTable::new(),
            hasher: KeyedState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The hash that every lookup of `key` takes.
    pub fn hash_of(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn get(&self, hash: u64, key: &FlowKey) -> Option<&Connection> {
        self.table
            .find(hash, |connection| connection.key == *key)
            .map(|connection| &**connection)
    }

    /// The connection `id`, if it is still in the table (`hash`: of its key). Queues keep an
    /// id and a hash rather than the 52-byte key.
    pub fn get_by_id(&self, hash: u64, id: ConnectionId) -> Option<&Connection> {
        self.table
            .find(hash, |connection| connection.id == id)
            .map(|connection| &**connection)
    }

    pub fn remove(&mut self, hash: u64, key: &FlowKey) -> Option<Box<Connection>> {
        self.remove_where(hash, |connection| connection.key == *key)
    }

    pub fn remove_by_id(&mut self, hash: u64, id: ConnectionId) -> Option<Box<Connection>> {
        self.remove_where(hash, |connection| connection.id == id)
    }

    fn remove_where(
        &mut self,
        hash: u64,
        is_it: impl Fn(&Connection) -> bool,
    ) -> Option<Box<Connection>> {
        let entry = self
            .table
            .find_entry(hash, |connection| is_it(connection))
            .ok()?;
        Some(entry.remove().0)
    }

    /// The connection of `key`, made by `make` if there is none; `make` must give it `key`.
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: &FlowKey,
        make: impl FnOnce() -> Connection,
    ) -> &mut Connection {
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hash,
            |connection| connection.key == *key,
            |connection| hasher.hash_one(connection.key),
        );
        match entry {
            Entry::Occupied(occupied) => occupied.into_mut(),
            Entry::Vacant(vacant) => {
                let connection = Box::new(make());
                debug_assert!(connection.key == *key);
                vacant.insert(connection).into_mut()
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.table.iter().map(|connection| &**connection)
    }

    /// Takes out the connections `take` says yes to (lazily: only those the iterator reaches).
    pub fn extract_if<'t>(
        &'t mut self,
        mut take: impl FnMut(&Connection) -> bool + 't,
    ) -> impl Iterator<Item = Box<Connection>> + 't {
        self.table.extract_if(move |connection| take(connection))
    }
}

impl Default for ConnectionTable {
    fn default() -> Self {
        ConnectionTable::new()
    }
}
