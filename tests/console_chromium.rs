//! The console in a real headless Chromium (Debian's `chromium`, installed by
//! `scripts/test.sh`) against the simulator over TCP: the home page lists the
//! target up with its counts; the pipeline list shows both rooms and the
//! search box filters them once the script ran; a pipeline page draws its
//! topology with the zombie red and flowing elements green (the same colours
//! as its legend), bitrates and RTP stats in the element table, and the
//! token-gated actions hidden. A screenshot of that page is written to
//! `<target>/tmp/console-pipeline.png` (the README's picture). Then, driving
//! the browser over the DevTools protocol as an operator would: entering the
//! API token shows the actions; a wrong token is refused by the API; the
//! right one attaches a PlayerEndpoint through the authenticated API (the
//! simulator's ground truth shows it, owned by the exporter) and releases the
//! zombie through the reaper's API (the simulator's ledger shows that release
//! and no other); the offer and answer read from KMS show their problems; a
//! 49-element room is drawn with every node apart, in three layers.
#![cfg(feature = "demo")]

mod api_common;
mod exporter_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use api_common::*;
use exporter_common::*;
use kms_sim::{Action, Scenario, Vanish};

/// Flags an endpoint whose peer is gone, quickly (simulated time runs 10×).
const POLICY: &str = r#"
min_consecutive_cycles = 1

[[rules]]
name = "webrtc-peer-gone"
action = "flag"
min_age = "1s"
match = { element_types = ["WebRtcEndpoint"] }
when = { all = [ { no_flow = { direction = "out", for = "1s" } }, { media_disconnected = "1s" } ] }
"#;

const FLOWING_FILL: &str = "#73bf69";
const ZOMBIE_FILL: &str = "#f2495c";

/// Debian's Chromium, or a clear failure.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !path.is_empty() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("no chromium on PATH: this test needs a real headless browser (scripts/test.sh installs Debian's `chromium`; or `apt-get install chromium`)");
}

/// A fresh profile folder.
fn profile() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kx-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run headless Chromium on `url` with `extra` flags; returns stdout.
/// Blocking: called through `spawn_blocking`.
fn browse(url: &str, extra: &[&str]) -> String {
    let dir = profile();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Chromium under the DevTools protocol: one page, attached.
struct Devtools {
    _browser: tokio::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    session: String,
    next: u64,
    dir: PathBuf,
}

impl Devtools {
    /// Open `url` in a headless Chromium listening for DevTools on a free port.
    async fn open(url: &str) -> Devtools {
        let dir = profile();
        let browser = tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", dir.display()))
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        // Chromium writes its port and browser path there once it listens.
        let file = dir.join("DevToolsActivePort");
        let text = eventually(LIMIT, "DevTools listening", || async {
            std::fs::read_to_string(&file)
                .ok()
                .filter(|t| t.lines().count() >= 2)
                .ok_or("not yet".to_string())
        })
        .await;
        let mut lines = text.lines();
        let port = lines.next().unwrap().trim();
        let path = lines.next().unwrap().trim();
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .expect("DevTools WebSocket");
        let mut d = Devtools {
            _browser: browser,
            ws,
            session: String::new(),
            next: 0,
            dir,
        };
        let targets = d.call("Target.getTargets", json!({}), false).await;
        let id = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["targetId"].as_str())
            .expect("a page")
            .to_owned();
        let attached = d
            .call(
                "Target.attachToTarget",
                json!({ "targetId": id, "flatten": true }),
                false,
            )
            .await;
        d.session = attached["sessionId"].as_str().unwrap().to_owned();
        d
    }

    /// Send `method` (to the page's session when `on_page`) and wait for its result.
    async fn call(&mut self, method: &str, params: Value, on_page: bool) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if on_page {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send");
        loop {
            let frame = tokio::time::timeout(LIMIT, self.ws.next())
                .await
                .expect("DevTools answers")
                .expect("open")
                .expect("frame");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// The value of JavaScript `expr` in the page (promises awaited).
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
                true,
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Poll `expr` until it is `true`.
    async fn until(&mut self, what: &str, expr: &str) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if self.eval(expr).await == true {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {expr}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The DOM of `url` after its script ran for `budget_ms` of virtual time.
async fn dom(url: String, budget_ms: u32) -> String {
    let budget = format!("--virtual-time-budget={budget_ms}");
    tokio::task::spawn_blocking(move || browse(&url, &["--dump-dom", &budget]))
        .await
        .unwrap()
}

/// The `fill` of the first `<g class="{class}"...>` node's box.
fn fill_of<'a>(dom: &'a str, class: &str) -> Option<&'a str> {
    let at = dom.find(&format!("<g class=\"{class}\""))?;
    let rest = &dom[at..];
    let f = rest.find("fill=\"")? + 6;
    rest[f..].split('"').next()
}

/// The text of the `data-fill` swatch of `look` in the legend.
fn legend_fill<'a>(dom: &'a str, look: &str) -> Option<&'a str> {
    dom.split("<span><i class=\"swatch\" data-fill=\"")
        .skip(1)
        .find(|s| s.contains(&format!("</i>{look}</span>")))
        .and_then(|s| s.split('"').next())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_pipelines_colours_and_stats_in_chromium() {
    chromium();
    let sim = sim_at(10.0).await;
    sim.run_scenario(
        Scenario::new()
            .at(
                0,
                Action::Conference {
                    room: "alpha".into(),
                    participants: 3,
                    named: vec![],
                },
            )
            .at(
                0,
                Action::Conference {
                    room: "beta".into(),
                    participants: 2,
                    named: vec![],
                },
            )
            .at(
                0,
                Action::Conference {
                    room: "big".into(),
                    participants: 24,
                    named: vec![],
                },
            ),
    )
    .await
    .unwrap();
    let mut cfg = api_config(&sim);
    cfg.policy = toml::from_str(POLICY).expect("policy parses");
    cfg.scrape.interval = Duration::from_millis(500);
    cfg.validate().expect("valid config");
    let d = daemon(cfg).await;
    let addr = d.addr();
    eventually(LIMIT, "both rooms synced and flowing", || async {
        let (_, v) = get_json(addr, "/api/v1/pipelines").await;
        let n = v["pipelines"].as_array().map_or(0, Vec::len);
        (n == 3).then_some(()).ok_or(format!("{v}"))
    })
    .await;
    sim.run_scenario(Scenario::new().at(
        0,
        Action::VanishPeer {
            room: "alpha".into(),
            participant: "p2".into(),
            how: Vanish::Crash,
        },
    ))
    .await
    .unwrap();
    let zombie = eventually(Duration::from_secs(60), "p2's endpoint flagged", || async {
        let (_, v) = get_json(addr, "/api/v1/zombies").await;
        v["targets"][0]["zombies"][0]["object"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("{v}"))
    })
    .await;
    let pipeline = zombie.split('/').next().unwrap().to_owned();
    let base = format!("http://{addr}");

    // Home: the target, up, with its counts.
    let home = dom(format!("{base}/"), 500).await;
    assert!(
        home.contains("<tr class=\"target\" data-kms=\"sim\">"),
        "{home}"
    );
    assert!(home.contains("<td class=\"up\">up</td>"), "{home}");
    assert!(
        home.contains("<td class=\"num zombies bad\">1</td>"),
        "{home}"
    );
    assert!(
        home.contains("/console/pipelines/"),
        "a zombie links to its pipeline: {home}"
    );

    // The list, filtered by the script from ?q= once it ran.
    let list = dom(format!("{base}/console/pipelines"), 500).await;
    assert_eq!(list.matches("<tr class=\"pipeline").count(), 3, "{list}");
    assert!(
        list.contains("room-alpha") && list.contains("room-beta"),
        "{list}"
    );
    let filtered = dom(format!("{base}/console/pipelines?q=beta"), 500).await;
    assert_eq!(
        filtered.matches("<tr class=\"pipeline").count(),
        1,
        "{filtered}"
    );

    // The pipeline page, after one refresh by the script.
    let url = format!("{base}/console/pipelines/{pipeline}?kms=sim");
    let page = dom(url.clone(), 2_500).await;
    assert!(
        page.contains("id=\"refreshed\">refreshed "),
        "the script refreshed the page: {page}"
    );
    assert_eq!(fill_of(&page, "node zombie"), Some(ZOMBIE_FILL), "{page}");
    assert_eq!(fill_of(&page, "node flowing"), Some(FLOWING_FILL), "{page}");
    assert_eq!(legend_fill(&page, "zombie"), Some(ZOMBIE_FILL));
    assert_eq!(legend_fill(&page, "flowing"), Some(FLOWING_FILL));
    assert_eq!(
        page.matches("<g class=\"node zombie\"").count(),
        1,
        "{page}"
    );
    assert!(
        page.matches("<g class=\"node flowing\"").count() >= 2,
        "{page}"
    );
    assert!(page.contains("<path class=\"edge video\""), "{page}");
    assert!(page.contains("<path class=\"edge audio\""), "{page}");
    assert!(
        page.contains("class=\"rate\""),
        "edges carry bitrates: {page}"
    );
    assert!(
        page.contains("webrtc-peer-gone"),
        "the verdict and its evidence: {page}"
    );
    assert!(
        page.contains("<dt>media_state</dt>"),
        "evidence facts: {page}"
    );
    // Stats of a flowing endpoint in the element table: kb/s, loss, jitter.
    let row = page
        .split("<tr class=\"element flowing\"")
        .skip(1)
        .find(|r| r.contains("WebRtcEndpoint"))
        .expect("a flowing WebRtcEndpoint row");
    let row = row.split("</tr>").next().unwrap();
    assert!(
        row.contains(" kb/s</td>") && row.contains(" %</td>"),
        "{row}"
    );
    assert!(row.contains("CONNECTED"), "{row}");
    // No token entered: the actions exist but are not shown.
    assert!(page.contains("data-attach=\"/api/v1/pipelines/"), "{page}");
    assert!(
        !page.contains("<body data-refresh-ms=\"1000\" class=\"unlocked\""),
        "{page}"
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-pipeline.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let shot_url = url.clone();
    tokio::task::spawn_blocking(move || {
        browse(
            &shot_url,
            &[&arg, "--window-size=1280,900", "--virtual-time-budget=1500"],
        )
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());

    // An operator enters the token; the actions appear and go through the API.
    let mut page = Devtools::open(&url).await;
    page.until(
        "the page loaded",
        "document.readyState === 'complete' && !!document.getElementById('actions')",
    )
    .await;
    let shown = "getComputedStyle(document.getElementById('actions')).display";
    assert_eq!(
        page.eval(shown).await,
        "none",
        "actions hidden without a token"
    );
    let enter = |token: &str| {
        format!(
            "document.getElementById('token').value = '{token}'; \
             document.getElementById('token-form').requestSubmit(); true"
        )
    };
    page.eval(&enter("not-the-token")).await;
    assert_eq!(
        page.eval(shown).await,
        "block",
        "actions shown once a token is entered"
    );
    // Into a flowing endpoint (a player attached to the zombie would see no media out).
    let attach = "document.getElementById('action-result').textContent = ''; \
         document.querySelector('form.attach select').value = \
           document.querySelector('tr.element.flowing[data-id*=WebRtcEndpoint]').dataset.id; \
         document.querySelector('form.attach').requestSubmit(); true";
    page.eval(attach).await;
    page.until(
        "a wrong token is refused by the API",
        "document.getElementById('action-result').textContent.includes(': 401 ')",
    )
    .await;
    page.eval(&enter(TOKEN)).await;
    page.eval(attach).await;
    page.until(
        "the player attached through the API",
        "document.getElementById('action-result').textContent.includes(': 201 ')",
    )
    .await;
    let result = page
        .eval("document.getElementById('action-result').textContent")
        .await;
    let truth = sim.truth();
    let player = truth
        .objects
        .iter()
        .find(|o| o.kind == "PlayerEndpoint" && o.parent.as_deref() == Some(pipeline.as_str()))
        .unwrap_or_else(|| panic!("no PlayerEndpoint in {pipeline}: {result}"));
    assert!(
        player
            .tags
            .iter()
            .any(|(k, v)| k == "kurento-exporter.owner" && v == "kurento-exporter"),
        "{:?}",
        player.tags
    );

    // The zombie released from its details, through the reaper's API.
    page.eval(
        "window.confirm = () => true; \
         document.getElementById('action-result').textContent = ''; \
         document.querySelector('details.element-details.zombie button[data-release]').click(); true",
    )
    .await;
    page.until(
        "the release answered",
        "/release: \\d{3} /.test(document.getElementById('action-result').textContent)",
    )
    .await;
    let answer = page
        .eval("document.getElementById('action-result').textContent")
        .await;
    assert!(answer.as_str().unwrap().contains(": 200 "), "{answer}");
    let released: Vec<String> = sim
        .truth()
        .releases
        .iter()
        .filter(|r| !r.by_app)
        .map(|r| r.object.clone())
        .collect();
    assert_eq!(released, vec![zombie.clone()], "only the zombie released");

    // The offer and answer read from KMS, with the problems found.
    page.eval(
        "document.querySelector('tr.element.flowing[data-id*=WebRtcEndpoint] a').click(); \
         document.querySelector('details.element-details.flowing [data-negotiation]').click(); true",
    )
    .await;
    page.until(
        "the negotiation read and analysed",
        "[...document.querySelectorAll('.negotiation-out')].some(o => \
           o.querySelector('pre') && o.querySelector('pre').textContent.startsWith('v=0') && \
           /problem/i.test(o.textContent))",
    )
    .await;

    // 49 elements (24 participants and their hub): every node drawn, none
    // over another, text no smaller than 11 px.
    let (_, v) = get_json(addr, "/api/v1/pipelines").await;
    let big = v["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["tags"]["room"] == "big")
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_owned();
    page.call(
        "Page.navigate",
        json!({ "url": format!("{base}/console/pipelines/{big}?kms=sim") }),
        true,
    )
    .await;
    page.until(
        "the big room's page",
        "document.readyState === 'complete' && document.querySelectorAll('g.node').length === 49",
    )
    .await;
    let overlaps = page
        .eval(
            "(() => { const r = [...document.querySelectorAll('g.node rect')].map(e => e.getBoundingClientRect()); \
             let n = 0; for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) \
             if (r[i].left < r[j].right && r[j].left < r[i].right && r[i].top < r[j].bottom && r[j].top < r[i].bottom) n++; \
             return n; })()",
        )
        .await;
    assert_eq!(overlaps, 0, "nodes drawn over one another");
    let smallest = page
        .eval(
            "Math.min(...[...document.querySelectorAll('svg.topology text')] \
             .map(t => parseFloat(getComputedStyle(t).fontSize)))",
        )
        .await;
    assert!(smallest.as_f64().unwrap() >= 10.0, "text of {smallest} px");
    let layers = page
        .eval("new Set([...document.querySelectorAll('g.node rect')].map(r => r.getAttribute('x'))).size")
        .await;
    assert_eq!(layers, 3, "endpoints, hub ports, hub");
    drop(page);
    let big_shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-big-room.png");
    let arg = format!("--screenshot={}", big_shot.display());
    let big_url = format!("{base}/console/pipelines/{big}?kms=sim");
    tokio::task::spawn_blocking(move || {
        browse(
            &big_url,
            &[
                &arg,
                "--window-size=1280,1700",
                "--virtual-time-budget=1000",
            ],
        )
    })
    .await
    .unwrap();
    assert!(std::fs::metadata(&big_shot).is_ok_and(|m| m.len() > 20_000));
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}
