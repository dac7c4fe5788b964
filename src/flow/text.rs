//! Short texts built on the stack instead of through the formatting machinery: endpoints,
//! addresses, connection ids and counts are written into every connection record, event line,
//! finding and HTTP hop line, and `Display` with `format!` (a formatter, an adapter and a
//! write per fragment, std's address formatting through a buffer of its own) dominated
//! building those.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Text of at most 64 bytes on the stack: an endpoint, an address, an id or a number.
pub struct ShortText {
    bytes: [u8; 64],
    len: usize,
    /// Something did not fit: the caller falls back to formatting.
    overflowed: bool,
}

impl Default for ShortText {
    fn default() -> Self {
        ShortText {
            bytes: [0; 64],
            len: 0,
            overflowed: false,
        }
    }
}

impl ShortText {
    /// Whole pieces of text only (a piece that does not fit is dropped and marks the text
    /// overflowed), so the bytes are always valid UTF-8 up to `len`.
    pub fn push_str(&mut self, text: &str) {
        let end = self.len + text.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(text.as_bytes());
                self.len = end;
            }
            None => self.overflowed = true,
        }
    }

    /// `number` in decimal, each digit written in its place: building the digits aside and
    /// copying them took a `memcpy` call per number, and an endpoint has five numbers.
    pub fn push_number(&mut self, number: u64) {
        let digits = number.checked_ilog10().map_or(1, |log| log as usize + 1);
        let end = self.len + digits;
        let Some(room) = self.bytes.get_mut(self.len..end) else {
            self.overflowed = true;
            return;
        };
        let mut rest = number;
        for slot in room.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.len = end;
    }

    /// One ASCII byte (a separator), without a `memcpy` call.
    pub fn push_byte(&mut self, byte: u8) {
        match self.bytes.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// `ip` as `IpAddr`'s `Display` writes it.
    pub fn push_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(ip) => self.push_ipv4(ip),
            IpAddr::V6(ip) => self.push_ipv6(ip),
        }
    }

    /// `ip` as `Ipv6Addr`'s `Display` writes it (RFC 5952: lowercase hex without leading
    /// zeros, the first longest run of two or more zero groups as `::`, IPv4-mapped addresses
    /// as `::ffff:a.b.c.d`), without the formatting machinery, as the IPv4 form is: through
    /// it, each endpoint took a formatter, an adapter and a write per fragment.
    pub fn push_ipv6(&mut self, ip: Ipv6Addr) {
        if let Some(mapped) = ip.to_ipv4_mapped() {
            self.push_str("::ffff:");
            self.push_ipv4(mapped);
            return;
        }
        let groups = ip.segments();
        let (zeros_start, zeros_len) = longest_zero_run(&groups);
        if zeros_len < 2 {
            self.push_groups(&groups);
            return;
        }
        self.push_groups(groups.get(..zeros_start).unwrap_or_default());
        self.push_str("::");
        self.push_groups(groups.get(zeros_start + zeros_len..).unwrap_or_default());
    }

    pub fn push_ipv4(&mut self, ip: Ipv4Addr) {
        for (index, octet) in ip.octets().into_iter().enumerate() {
            if index > 0 {
                self.push_byte(b'.');
            }
            self.push_number(u64::from(octet));
        }
    }

    /// Groups in lowercase hex without leading zeros, separated by `:`.
    fn push_groups(&mut self, groups: &[u16]) {
        for (index, &group) in groups.iter().enumerate() {
            if index > 0 {
                self.push_byte(b':');
            }
            let digits = group.to_be_bytes().map(|byte| [byte >> 4, byte & 0xF]);
            let digits = digits.as_flattened();
            let first = digits.iter().position(|&digit| digit != 0).unwrap_or(3);
            for &digit in digits.get(first..).unwrap_or_default() {
                let hex = b"0123456789abcdef".get(usize::from(digit)).copied();
                self.push_byte(hex.unwrap_or(b'0'));
            }
        }
    }

    /// The bytes, unless something did not fit. Only whole `&str` pieces, digits and ASCII
    /// separators are ever pushed, so they are UTF-8 without checking them again.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        if self.overflowed {
            return None;
        }
        self.bytes.get(..self.len)
    }

    pub fn as_str(&self) -> Option<&str> {
        if self.overflowed {
            return None;
        }
        std::str::from_utf8(self.bytes.get(..self.len)?).ok()
    }
}

/// Where the first longest run of zero groups starts, and its length.
fn longest_zero_run(groups: &[u16; 8]) -> (usize, usize) {
    let (mut longest_start, mut longest_len) = (0, 0);
    let (mut run_start, mut run_len) = (0, 0);
    for (index, &group) in groups.iter().enumerate() {
        if group != 0 {
            run_len = 0;
            continue;
        }
        if run_len == 0 {
            run_start = index;
        }
        run_len += 1;
        if run_len > longest_len {
            (longest_start, longest_len) = (run_start, run_len);
        }
    }
    (longest_start, longest_len)
}

/// Appends `ip` to `out` as `IpAddr`'s `Display` writes it.
pub fn push_ip(out: &mut String, ip: IpAddr) {
    let mut text = ShortText::default();
    text.push_ip(ip);
    match text.as_str() {
        Some(text) => out.push_str(text),
        // An address is at most 45 bytes; kept for the type's contract.
        None => out.push_str(&ip.to_string()),
    }
}

/// Appends `number` to `out` in decimal.
pub fn push_decimal(out: &mut String, number: u64) {
    let mut text = ShortText::default();
    text.push_number(number);
    out.push_str(text.as_str().unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_numbers_append_as_std_writes_them() {
        let addresses: [IpAddr; 5] = [
            "10.0.0.1".parse().unwrap(),
            "255.255.255.255".parse().unwrap(),
            "::".parse().unwrap(),
            "2001:db8::1:0:0:1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        ];
        for ip in addresses {
            let mut out = String::from("x ");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x {ip}"));
        }
        for number in [0, 9, 10, 65535, 1_000_000, u64::MAX] {
            let mut out = String::from("n=");
            push_decimal(&mut out, number);
            assert_eq!(out, format!("n={number}"));
        }
    }
}
