//! The order in which addresses are tried (RFC 8305 §4).
//!
//! Addresses are grouped by family, keeping the order they came in within
//! each family. The family of the first address is tried first, for
//! `interleave` addresses (the "First Address Family Count"); after that the
//! families alternate, one address each, starting with the other family.
//! When one family runs out, the other continues alone. `interleave == 0`
//! keeps the order exactly as given.
//!
//! This is asyncio's `_interleave_addrinfos`, done as a queue so that
//! addresses that arrive later (a slow AAAA answer) join in their place.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// Addresses waiting to be tried, in RFC 8305 order.
#[derive(Debug)]
pub(crate) struct Queue {
    interleave: usize,
    /// Addresses of the family tried first, and of the other one. With
    /// `interleave == 0`, everything is in `first`.
    first: VecDeque<SocketAddr>,
    other: VecDeque<SocketAddr>,
    first_is_v6: Option<bool>,
    /// How many addresses have been taken from the queue so far.
    taken: usize,
    /// Whether the last address taken, past the first-family run, was of the first family.
    last_was_first: bool,
}

impl Queue {
    pub(crate) fn new(interleave: usize) -> Queue {
        Queue {
            interleave,
            first: VecDeque::new(),
            other: VecDeque::new(),
            first_is_v6: None,
            taken: 0,
            last_was_first: true,
        }
    }

    pub(crate) fn extend(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            if self.interleave == 0 {
                self.first.push_back(addr);
                continue;
            }
            let first_is_v6 = *self.first_is_v6.get_or_insert(addr.is_ipv6());
            if addr.is_ipv6() == first_is_v6 {
                self.first.push_back(addr);
            } else {
                self.other.push_back(addr);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_empty() && self.other.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.first.len() + self.other.len()
    }

    pub(crate) fn pop(&mut self) -> Option<SocketAddr> {
        let from_first = if self.taken < self.interleave || self.interleave == 0 {
            !self.first.is_empty()
        } else if self.last_was_first {
            self.other.is_empty()
        } else {
            !self.first.is_empty()
        };
        let addr = if from_first {
            self.first.pop_front()
        } else {
            self.other.pop_front()
        }?;
        self.taken += 1;
        self.last_was_first = from_first;
        Some(addr)
    }
}

/// Orders a complete list of addresses: see the module docs.
#[cfg(test)]
pub(crate) fn interleave(
    addrs: impl IntoIterator<Item = SocketAddr>,
    interleave: usize,
) -> Vec<SocketAddr> {
    let mut queue = Queue::new(interleave);
    queue.extend(addrs);
    std::iter::from_fn(|| queue.pop()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        if s.contains(':') {
            format!("[{s}]:80").parse().unwrap()
        } else {
            format!("{s}:80").parse().unwrap()
        }
    }

    fn list(s: &str) -> Vec<SocketAddr> {
        s.split_whitespace().map(a).collect()
    }

    #[test]
    fn interleave_matches_asyncio() {
        let input = list("::1 ::2 ::3 1.0.0.1 1.0.0.2 1.0.0.3");
        assert_eq!(
            interleave(input.clone(), 1),
            list("::1 1.0.0.1 ::2 1.0.0.2 ::3 1.0.0.3")
        );
        assert_eq!(
            interleave(input.clone(), 2),
            list("::1 ::2 1.0.0.1 ::3 1.0.0.2 1.0.0.3")
        );
        assert_eq!(
            interleave(input.clone(), 3),
            list("::1 ::2 ::3 1.0.0.1 1.0.0.2 1.0.0.3")
        );
        assert_eq!(interleave(input.clone(), 0), input);
        // The first address's family leads.
        let v4_first = list("1.0.0.1 ::1 ::2 1.0.0.2");
        assert_eq!(interleave(v4_first, 1), list("1.0.0.1 ::1 1.0.0.2 ::2"));
        // One family alone keeps its order.
        assert_eq!(interleave(list("::3 ::1 ::2"), 1), list("::3 ::1 ::2"));
        // A family that runs out leaves the other to continue.
        assert_eq!(
            interleave(list("::1 1.0.0.1 1.0.0.2 1.0.0.3"), 1),
            list("::1 1.0.0.1 1.0.0.2 1.0.0.3")
        );
    }

    #[test]
    fn late_addresses_join_in_their_place() {
        // A answered first; AAAA comes after two attempts have started.
        let mut q = Queue::new(1);
        q.extend(list("1.0.0.1 1.0.0.2 1.0.0.3"));
        assert_eq!(q.pop(), Some(a("1.0.0.1")));
        assert_eq!(q.pop(), Some(a("1.0.0.2")));
        q.extend(list("::1 ::2"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some(a("::1")));
        assert_eq!(q.pop(), Some(a("1.0.0.3")));
        assert_eq!(q.pop(), Some(a("::2")));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }
}
