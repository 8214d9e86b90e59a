//! ICE candidates (RFC 8839 §5.1): `candidate:FOUNDATION COMPONENT TRANSPORT
//! PRIORITY ADDRESS PORT typ TYPE [NAME VALUE]...`, as an `a=candidate` line
//! of a description or as the string a peer trickles (`addIceCandidate`,
//! `IceCandidateFound`).

/// One candidate; fields as written, numbers read on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub foundation: String,
    /// `1` (RTP) or `2` (RTCP).
    pub component: String,
    /// `udp`, `tcp`, in the writer's case.
    pub transport: String,
    pub priority: String,
    pub address: String,
    pub port: String,
    /// The value after `typ`: `host`, `srflx`, `prflx`, `relay`.
    pub kind: String,
    /// The `NAME VALUE` pairs after the type (`raddr`, `rport`, `tcptype`,
    /// `generation`, `ufrag`, `network-id`...); a trailing lone name has an
    /// empty value.
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// A trickled candidate string: `candidate:...`, also with an `a=`
    /// prefix. `None` without the prefix or the eight leading fields.
    pub fn parse(text: &str) -> Option<Candidate> {
        let body = text.trim().trim_start_matches("a=");
        Candidate::from_value(body.strip_prefix("candidate:")?)
    }

    /// The value of an `a=candidate:` attribute (after the colon).
    pub fn from_value(value: &str) -> Option<Candidate> {
        let f: Vec<&str> = value.split_whitespace().collect();
        if f.len() < 8 || !f[6].eq_ignore_ascii_case("typ") {
            return None;
        }
        let extensions = f[8..]
            .chunks(2)
            .map(|p| (p[0].to_owned(), p.get(1).copied().unwrap_or("").to_owned()))
            .collect();
        Some(Candidate {
            foundation: f[0].to_owned(),
            component: f[1].to_owned(),
            transport: f[2].to_owned(),
            priority: f[3].to_owned(),
            address: f[4].to_owned(),
            port: f[5].to_owned(),
            kind: f[7].to_owned(),
            extensions,
        })
    }

    /// The component id, when it is a number.
    pub fn component_id(&self) -> Option<u32> {
        self.component.parse().ok()
    }

    /// The priority, when it is a number.
    pub fn priority_value(&self) -> Option<u64> {
        self.priority.parse().ok()
    }

    /// Whether the transport is UDP (any case).
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("udp")
    }

    /// The value of extension `name` (`raddr`, `tcptype`...).
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
