//! Helpers shared by the benchmarks.

/// The TLS setup (certificates and configs) of the TLS benchmarks.
#[cfg(feature = "tls")]
#[allow(dead_code)] // not every benchmark built with `tls` makes TLS
pub mod tls;

/// The median of `v` (sorted in place); the mean of the two middle values
/// for an even count.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// The order in which to run `n` variants in one round: a fresh shuffle
/// each round (xorshift from a fixed seed, so runs are repeatable), so no
/// variant always follows the same one, as a fixed rotation would have it.
#[allow(dead_code)]
pub struct Shuffled {
    order: Vec<usize>,
    seed: u64,
}

#[allow(dead_code)]
impl Shuffled {
    pub fn new(n: usize) -> Shuffled {
        Shuffled {
            order: (0..n).collect(),
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// The next round's order.
    pub fn next_round(&mut self) -> &[usize] {
        for i in (1..self.order.len()).rev() {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            self.order.swap(i, (self.seed % (i as u64 + 1)) as usize);
        }
        &self.order
    }
}

/// A hyper-util resolver answering with fixed addresses, so hyper-util's
/// `HttpConnector` races the same addresses as ours.
#[allow(dead_code)]
#[derive(Clone)]
pub struct FixedDns(pub Vec<std::net::SocketAddr>);

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for FixedDns {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        std::future::ready(Ok(self.0.clone().into_iter()))
    }
}
