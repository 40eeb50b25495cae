//! Per-address caps on what one source may hold on the relay at once
//! (connections, hosts waiting for a technician), and the refusals they
//! cause counted in bursts, so a flood from one address is one audit
//! record, not one per connection.
//!
//! An address is an IPv4 address or an IPv6 /64 (what one site is given:
//! counting single IPv6 addresses would let anyone take a fresh one per
//! connection); IPv4-mapped IPv6 addresses count as their IPv4 address.
//! Sans-IO: time is passed in, nothing here touches a socket or the log.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::bursts::Counted;

/// One source, as the caps count it: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `ip` belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    Source(IpAddr::V6(net))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `--max-connections-per-ip`.
    Connections,
    /// `--max-waiting-per-ip`.
    WaitingHosts,
}

impl Limit {
    /// Its name in audit records (the option it comes from).
    pub fn word(self) -> &'static str {
        match self {
            Limit::Connections => "connections_per_ip",
            Limit::WaitingHosts => "waiting_per_ip",
        }
    }
}

/// How many of each a source holds, against the caps.
#[derive(Debug)]
pub struct Caps {
    connections: usize,
    waiting: usize,
    held: HashMap<(Source, Limit), usize>,
}

impl Caps {
    /// Caps of `connections` and `waiting` hosts per source (0: no cap).
    pub fn new(connections: usize, waiting: usize) -> Self {
        Self {
            connections,
            waiting,
            held: HashMap::new(),
        }
    }

    fn cap(&self, limit: Limit) -> usize {
        match limit {
            Limit::Connections => self.connections,
            Limit::WaitingHosts => self.waiting,
        }
    }

    /// Takes one of `limit` for `ip`; `Err(cap)` when its source holds
    /// the cap already (nothing is taken then).
    pub fn take(&mut self, ip: IpAddr, limit: Limit) -> Result<(), usize> {
        let cap = self.cap(limit);
        let held = self.held.entry((Source::of(ip), limit)).or_insert(0);
        if cap != 0 && *held >= cap {
            return Err(cap);
        }
        *held += 1;
        Ok(())
    }

    /// Gives back one of `limit` that `ip` took.
    pub fn give_back(&mut self, ip: IpAddr, limit: Limit) {
        let key = (Source::of(ip), limit);
        if let Some(held) = self.held.get_mut(&key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.held.remove(&key);
            }
        }
    }

    /// How many of `limit` `ip`'s source holds.
    pub fn held(&self, ip: IpAddr, limit: Limit) -> usize {
        self.held
            .get(&(Source::of(ip), limit))
            .copied()
            .unwrap_or(0)
    }
}

/// Refusals from one source (or, [`None`], from sources beyond
/// [`BURST_KEYS`](super::bursts::BURST_KEYS)) under one limit, in a burst that is over: what
/// its one audit record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub source: Option<Source>,
    pub limit: Limit,
    /// The cap in force.
    pub cap: usize,
    pub refused: u64,
    /// From the first refusal to the last.
    pub lasted: Duration,
}

/// Refusals counted per source and limit until their burst ends
/// ([`super::bursts`], keyed by source and limit, the cap kept).
#[derive(Debug, Default)]
pub struct Bursts {
    counted: super::bursts::Bursts<(Option<Source>, Limit), usize>,
}

impl Bursts {
    /// Counts a refusal of `ip` by `limit` (whose cap is `cap`) at `now`.
    pub fn refused(&mut self, now: Instant, ip: IpAddr, limit: Limit, cap: usize) {
        let key = (Some(Source::of(ip)), limit);
        self.counted.count(now, key, (None, limit), || cap);
    }

    /// The bursts over at `now` (quiet for
    /// [`BURST_QUIET`](super::bursts::BURST_QUIET), or going on for
    /// [`BURST_LONGEST`](super::bursts::BURST_LONGEST)), each reported once
    /// and forgotten.
    pub fn over(&mut self, now: Instant) -> Vec<Burst> {
        Self::reported(self.counted.over(now))
    }

    /// Every burst still open (the relay stops: it reports them all).
    pub fn all(&mut self) -> Vec<Burst> {
        Self::reported(self.counted.all())
    }

    fn reported(over: Vec<Counted<(Option<Source>, Limit), usize>>) -> Vec<Burst> {
        let mut out: Vec<Burst> = over
            .into_iter()
            .map(|c| Burst {
                source: c.key.0,
                limit: c.key.1,
                cap: c.data,
                refused: c.count,
                lasted: c.last.saturating_duration_since(c.first),
            })
            .collect();
        out.sort_by_key(|b| (b.source.map(|s| s.to_string()), b.limit.word()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::bursts::BURST_KEYS;
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn a_source_gets_its_cap_and_no_more_until_one_is_given_back() {
        let mut caps = Caps::new(2, 1);
        let a = ip("192.0.2.1");
        assert_eq!(caps.take(a, Limit::Connections), Ok(()));
        assert_eq!(caps.take(a, Limit::Connections), Ok(()));
        assert_eq!(caps.take(a, Limit::Connections), Err(2));
        assert_eq!(caps.take(ip("192.0.2.2"), Limit::Connections), Ok(()));
        assert_eq!(caps.take(a, Limit::WaitingHosts), Ok(()));
        assert_eq!(caps.take(a, Limit::WaitingHosts), Err(1));
        caps.give_back(a, Limit::Connections);
        assert_eq!(caps.held(a, Limit::Connections), 1);
        assert_eq!(caps.take(a, Limit::Connections), Ok(()));
    }

    #[test]
    fn giving_back_more_than_was_taken_does_not_wrap() {
        let mut caps = Caps::new(1, 1);
        let a = ip("192.0.2.1");
        caps.give_back(a, Limit::Connections);
        assert_eq!(caps.held(a, Limit::Connections), 0);
        assert_eq!(caps.take(a, Limit::Connections), Ok(()));
        assert_eq!(caps.take(a, Limit::Connections), Err(1));
    }

    #[test]
    fn zero_means_no_cap() {
        let mut caps = Caps::new(0, 0);
        for _ in 0..10_000 {
            assert_eq!(caps.take(ip("192.0.2.1"), Limit::Connections), Ok(()));
        }
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_v4_is_its_v4() {
        let mut caps = Caps::new(1, 1);
        assert_eq!(caps.take(ip("2001:db8:1:2::1"), Limit::Connections), Ok(()));
        assert_eq!(
            caps.take(ip("2001:db8:1:2:ffff::9"), Limit::Connections),
            Err(1)
        );
        assert_eq!(caps.take(ip("2001:db8:1:3::1"), Limit::Connections), Ok(()));
        assert_eq!(caps.take(ip("198.51.100.7"), Limit::Connections), Ok(()));
        assert_eq!(
            caps.take(ip("::ffff:198.51.100.7"), Limit::Connections),
            Err(1)
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2:3:4:5:6")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_flood_is_one_counted_burst_reported_once_it_is_quiet() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        let a = ip("192.0.2.1");
        for i in 0..1000 {
            b.refused(t0 + Duration::from_millis(i), a, Limit::Connections, 4);
        }
        assert!(b.over(t0 + Duration::from_secs(3)).is_empty());
        let over = b.over(t0 + Duration::from_secs(7));
        assert_eq!(
            over,
            [Burst {
                source: Some(Source::of(a)),
                limit: Limit::Connections,
                cap: 4,
                refused: 1000,
                lasted: Duration::from_millis(999),
            }]
        );
        assert!(b.over(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn a_flood_that_goes_on_is_reported_once_a_minute() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        let a = ip("192.0.2.1");
        let mut reports = 0;
        for s in 0..180 {
            let now = t0 + Duration::from_secs(s);
            b.refused(now, a, Limit::WaitingHosts, 2);
            reports += b.over(now).len();
        }
        assert_eq!(reports, 2);
        assert_eq!(b.all().len(), 1);
    }

    #[test]
    fn a_flood_from_many_sources_is_a_bounded_number_of_records() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        for i in 0..(BURST_KEYS as u32 + 5000) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            b.refused(t0, a, Limit::Connections, 1);
        }
        let all = b.all();
        assert_eq!(all.len(), BURST_KEYS + 1);
        let rest = all.iter().find(|x| x.source.is_none());
        assert_eq!(rest.map(|x| x.refused), Some(5000));
    }
}
