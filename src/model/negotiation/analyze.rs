//! Negotiation checks over a local and a remote description: which side
//! offered, and the typed problems found per media section.

use super::{parse, MediaView, SdpDirection, SessionView};

/// Which side made the offer. KMS's WebRtcEndpoint either processed an offer
/// (`processOffer`: remote = offer, local = answer) or generated one
/// (`generateOffer` then `processAnswer`: local = offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Offerer {
    Local,
    Remote,
    Unknown,
}

/// The description a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Local,
    Remote,
}

impl Side {
    fn describe(self) -> &'static str {
        match self {
            Side::Local => "KMS's local description",
            Side::Remote => "the remote peer's description",
        }
    }
}

/// How much a problem matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; media may well flow.
    Info,
    /// Media may not flow (or not yet).
    Warning,
    /// Media cannot flow on this section.
    Error,
}

/// What is wrong, with the facts that show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemKind {
    /// The answer shares no media codec with the offer, or rejected the
    /// section (port 0).
    NoCommonCodec {
        mid: String,
        media: String,
        /// `name/clock[/channels]` of the offer's media codecs.
        offered: Vec<String>,
        answered: Vec<String>,
        /// The answer set the port to 0.
        rejected: bool,
    },
    /// The answer's direction is not one RFC 3264 allows for the offer's.
    DirectionMismatch {
        mid: String,
        media: String,
        offer: SdpDirection,
        answer: SdpDirection,
    },
    /// An ICE section without any candidate (in it or in its BUNDLE group).
    MissingCandidates {
        mid: String,
        media: String,
        side: Side,
        /// The side announced trickle ICE: candidates may come as events.
        trickle: bool,
    },
    /// A DTLS-SRTP section without `a=fingerprint`.
    NoDtlsFingerprint {
        mid: String,
        media: String,
        side: Side,
    },
    /// Every candidate is a TURN relay.
    OnlyRelayCandidates {
        mid: String,
        media: String,
        side: Side,
        count: usize,
    },
    /// The remote peer gave only host candidates, none with a public address.
    OnlyHostCandidates {
        mid: String,
        media: String,
        side: Side,
        count: usize,
    },
}

/// One detected problem: `{"kind": "no_common_codec", "mid": "0", ...,
/// "severity": "error", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    #[serde(flatten)]
    pub kind: ProblemKind,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    fn new(kind: ProblemKind) -> Problem {
        let (severity, message) = describe(&kind);
        Problem {
            kind,
            severity,
            message,
        }
    }

    /// The wire name of the kind (`no_common_codec`, ...).
    pub fn name(&self) -> &'static str {
        match self.kind {
            ProblemKind::NoCommonCodec { .. } => "no_common_codec",
            ProblemKind::DirectionMismatch { .. } => "direction_mismatch",
            ProblemKind::MissingCandidates { .. } => "missing_candidates",
            ProblemKind::NoDtlsFingerprint { .. } => "no_dtls_fingerprint",
            ProblemKind::OnlyRelayCandidates { .. } => "only_relay_candidates",
            ProblemKind::OnlyHostCandidates { .. } => "only_host_candidates",
        }
    }
}

fn describe(kind: &ProblemKind) -> (Severity, String) {
    use ProblemKind as K;
    match kind {
        K::NoCommonCodec {
            mid,
            media,
            offered,
            answered,
            rejected: true,
        } => (
            Severity::Error,
            format!(
                "{media} section {mid}: the answer rejected it (port 0); offered codecs: [{}]{}",
                offered.join(", "),
                if answered.is_empty() {
                    String::new()
                } else {
                    format!(", answered: [{}]", answered.join(", "))
                }
            ),
        ),
        K::NoCommonCodec {
            mid,
            media,
            offered,
            answered,
            rejected: false,
        } => (
            Severity::Error,
            format!(
                "{media} section {mid}: no codec in common between offer [{}] and answer [{}]; no {media} can flow",
                offered.join(", "),
                answered.join(", ")
            ),
        ),
        K::DirectionMismatch {
            mid,
            media,
            offer,
            answer,
        } => (
            Severity::Error,
            format!(
                "{media} section {mid}: an offer of {} cannot be answered with {}",
                dir_name(*offer),
                dir_name(*answer)
            ),
        ),
        K::MissingCandidates {
            mid,
            media,
            side,
            trickle,
        } => (
            Severity::Warning,
            format!(
                "{media} section {mid}: {} has no ICE candidates{}",
                side.describe(),
                if *trickle {
                    " (it uses trickle ICE: candidates may still arrive as events; \
                     if this persists, gathering or signalling failed)"
                } else {
                    " and does not announce trickle ICE: connectivity cannot be established"
                }
            ),
        ),
        K::NoDtlsFingerprint { mid, media, side } => (
            Severity::Error,
            format!(
                "{media} section {mid}: {} has no a=fingerprint; DTLS-SRTP cannot be keyed",
                side.describe()
            ),
        ),
        K::OnlyRelayCandidates {
            mid,
            media,
            side,
            count,
        } => (
            Severity::Info,
            format!(
                "{media} section {mid}: all {count} candidates of {} are TURN relays: \
                 media goes through the TURN server (expected if relay is forced, else check STUN/firewall)",
                side.describe()
            ),
        ),
        K::OnlyHostCandidates {
            mid,
            media,
            side,
            count,
        } => (
            Severity::Info,
            format!(
                "{media} section {mid}: {} has only {count} host candidates, none public and no \
                 srflx/relay: unreachable across NAT; informational when both sides share a \
                 network or run on loopback",
                side.describe()
            ),
        ),
    }
}

fn dir_name(d: SdpDirection) -> &'static str {
    match d {
        SdpDirection::SendRecv => "sendrecv",
        SdpDirection::SendOnly => "sendonly",
        SdpDirection::RecvOnly => "recvonly",
        SdpDirection::Inactive => "inactive",
    }
}

/// Both descriptions as parsed, and what is wrong between them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Negotiation {
    /// The offerer as given, or as inferred from `a=setup:actpass`.
    pub offerer: Offerer,
    pub local: Option<SessionView>,
    pub remote: Option<SessionView>,
    pub problems: Vec<Problem>,
}

impl Negotiation {
    /// Whether a problem of kind `name` (e.g. `no_common_codec`) was found.
    pub fn has(&self, name: &str) -> bool {
        self.problems.iter().any(|p| p.name() == name)
    }
}

/// Parse both descriptions (empty strings count as absent) and check them.
pub fn analyze(local: Option<&str>, remote: Option<&str>, offerer: Offerer) -> Negotiation {
    let present = |s: Option<&str>| s.filter(|s| !s.trim().is_empty()).map(parse);
    let local = present(local);
    let remote = present(remote);
    let offerer = match offerer {
        Offerer::Unknown => infer(local.as_ref(), remote.as_ref()),
        known => known,
    };
    let mut problems = Vec::new();
    for (side, view) in [(Side::Local, &local), (Side::Remote, &remote)] {
        if let Some(v) = view {
            one_side(side, v, &mut problems);
        }
    }
    if let (Some(l), Some(r)) = (&local, &remote) {
        let (offer, answer) = match offerer {
            Offerer::Local => (l, r),
            // Unknown: KMS processing a browser's offer is the common case;
            // the codec check is symmetric and the direction check is skipped.
            _ => (r, l),
        };
        pair(offer, answer, offerer != Offerer::Unknown, &mut problems);
    }
    Negotiation {
        offerer,
        local,
        remote,
        problems,
    }
}

/// The offerer writes `a=setup:actpass` (RFC 5763); the answerer never does.
fn infer(local: Option<&SessionView>, remote: Option<&SessionView>) -> Offerer {
    let actpass = |v: Option<&SessionView>| v.is_some_and(SessionView::offers_actpass);
    match (actpass(local), actpass(remote)) {
        (true, false) => Offerer::Local,
        (false, true) => Offerer::Remote,
        _ => Offerer::Unknown,
    }
}

fn one_side(side: Side, v: &SessionView, out: &mut Vec<Problem>) {
    for (i, m) in v.media.iter().enumerate() {
        if m.rejected() {
            continue;
        }
        let (mid, media) = (m.mid_or(i), m.kind.clone());
        if m.needs_fingerprint() && m.fingerprint.is_none() {
            out.push(Problem::new(ProblemKind::NoDtlsFingerprint {
                mid: mid.clone(),
                media: media.clone(),
                side,
            }));
        }
        if !m.uses_ice() {
            continue;
        }
        if group_candidates(v, m) == 0 {
            out.push(Problem::new(ProblemKind::MissingCandidates {
                mid,
                media,
                side,
                trickle: m.ice_options.iter().any(|o| o == "trickle"),
            }));
            continue;
        }
        let c = &m.candidates;
        if c.total > 0 && c.of_type("relay") == c.total {
            out.push(Problem::new(ProblemKind::OnlyRelayCandidates {
                mid,
                media,
                side,
                count: c.total,
            }));
        } else if side == Side::Remote
            && c.total > 0
            && c.of_type("host") == c.total
            && c.by_scope.get("public").copied().unwrap_or(0) == 0
        {
            out.push(Problem::new(ProblemKind::OnlyHostCandidates {
                mid,
                media,
                side,
                count: c.total,
            }));
        }
    }
}

/// Candidates of `m`, or of its BUNDLE group (browsers may list them once).
fn group_candidates(v: &SessionView, m: &MediaView) -> usize {
    let own = m.candidates.total;
    let Some(group) = m.mid.as_deref().and_then(|mid| v.bundle_of(mid)) else {
        return own;
    };
    own + v
        .media
        .iter()
        .filter(|o| !std::ptr::eq(*o, m))
        .filter(|o| o.mid.as_ref().is_some_and(|x| group.mids.contains(x)))
        .map(|o| o.candidates.total)
        .sum::<usize>()
}

fn pair(offer: &SessionView, answer: &SessionView, directed: bool, out: &mut Vec<Problem>) {
    for (i, o) in offer.media.iter().enumerate() {
        if o.rejected() {
            continue;
        }
        let a = answer_section(answer, o, i);
        let (mid, media) = (o.mid_or(i), o.kind.clone());
        let av = matches!(o.kind.as_str(), "audio" | "video");
        let offered: Vec<String> = o.media_codecs().map(|c| c.label()).collect();
        let answered: Vec<String> = a
            .map(|a| a.media_codecs().map(|c| c.label()).collect())
            .unwrap_or_default();
        let rejected = a.is_none_or(MediaView::rejected);
        if rejected || (av && !common_codec(o, a)) {
            out.push(Problem::new(ProblemKind::NoCommonCodec {
                mid,
                media,
                offered,
                answered,
                rejected,
            }));
            continue;
        }
        if let (Some(a), true) = (a, directed) {
            if !compatible(o.direction, a.direction) {
                out.push(Problem::new(ProblemKind::DirectionMismatch {
                    mid,
                    media,
                    offer: o.direction,
                    answer: a.direction,
                }));
            }
        }
    }
}

/// The answer's section for offer section `i`: same mid, else same index.
fn answer_section<'a>(answer: &'a SessionView, o: &MediaView, i: usize) -> Option<&'a MediaView> {
    o.mid
        .as_ref()
        .and_then(|mid| answer.media.iter().find(|a| a.mid.as_ref() == Some(mid)))
        .or_else(|| answer.media.get(i))
}

/// A media codec (same name, case-insensitive, and clock rate) in both.
fn common_codec(o: &MediaView, a: Option<&MediaView>) -> bool {
    let Some(a) = a else { return false };
    o.media_codecs().any(|oc| {
        a.media_codecs()
            .any(|ac| ac.name.eq_ignore_ascii_case(&oc.name) && ac.clock_rate == oc.clock_rate)
    })
}

/// RFC 3264 §6.1: the answers each offered direction allows.
fn compatible(offer: SdpDirection, answer: SdpDirection) -> bool {
    use SdpDirection as D;
    match offer {
        D::SendRecv => true,
        D::SendOnly => matches!(answer, D::RecvOnly | D::Inactive),
        D::RecvOnly => matches!(answer, D::SendOnly | D::Inactive),
        D::Inactive => answer == D::Inactive,
    }
}
