//! SDP fixtures shared by the negotiation tests: a Chromium-shaped offer
//! (video codec chosen by the caller, so a test can plant one KMS does not
//! support) and the candidates such a browser trickles.
#![allow(dead_code)]

/// A Chromium-shaped offer (trickle ICE: no candidates in the SDP).
pub fn browser_offer(video_codec: &str) -> String {
    format!(
        "v=0\r\no=- 2727208085124138352 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\na=msid-semantic: WMS s1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0 8 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:2/7k\r\na=ice-pwd:fBkq0D4316SsP6EIlwJ7XtB4\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 AE:DB:82:56:C2:F9:6B:B5:D0:71:44:81:79:64:33:F9:BC:C4:58:8F:6B:E7:95:C0:86:62:B2:26:F7:F1:E1:8D\r\n\
a=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n\
a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:126 telephone-event/8000\r\na=ssrc:2276511753 cname:fRZQgTgFRgSTLCAP\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:2/7k\r\na=ice-pwd:fBkq0D4316SsP6EIlwJ7XtB4\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 AE:DB:82:56:C2:F9:6B:B5:D0:71:44:81:79:64:33:F9:BC:C4:58:8F:6B:E7:95:C0:86:62:B2:26:F7:F1:E1:8D\r\n\
a=setup:actpass\r\na=mid:1\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 {video_codec}/90000\r\na=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 2341619818 1741116077\r\na=ssrc:2341619818 cname:fRZQgTgFRgSTLCAP\r\n"
    )
}

/// What a browser behind NAT trickles: a private host and a server-reflexive candidate.
pub const TRICKLED: [&str; 2] = [
    "candidate:859365881 1 udp 2122194687 192.168.1.20 35520 typ host generation 0 ufrag 2/7k network-id 1",
    "candidate:1467250027 1 udp 1686052607 203.0.113.7 35520 typ srflx raddr 192.168.1.20 rport 35520 generation 0",
];
