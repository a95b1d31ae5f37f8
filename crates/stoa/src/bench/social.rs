//! `stoa bench --fanout` and `stoa bench --search`: the notification fan-out of a room started by someone
//! with many followers, and search's latency over a large database. Each seeds a fresh data folder
//! directly through the store (accounts that cannot sign in, follows, events), then starts its own
//! `stoa serve` on it as a separate process and measures over HTTP, as users would reach it.

use super::measure::percentile;
use super::process::start_own_server_on;
use anyhow::Context;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_store::{Clubs, NewAccount, NewEvent, Social, SqliteStore, Store};

pub(super) const PASSWORD: &str = "bench-password";

const FIRST: &[&str] = &[
    "ada",
    "alan",
    "grace",
    "linus",
    "barbara",
    "edsger",
    "donald",
    "margaret",
    "dennis",
    "ken",
    "frances",
    "john",
    "radia",
    "tim",
    "vint",
    "leslie",
    "niklaus",
    "hedy",
    "katherine",
    "annie",
    "shafi",
    "sophie",
    "yukihiro",
    "guido",
    "bjarne",
    "james",
    "anders",
    "rasmus",
    "larry",
    "brendan",
    "mary",
    "jean",
    "karen",
    "lynn",
    "evelyn",
    "ruth",
    "carl",
    "claude",
    "norbert",
    "alonzo",
    "kurt",
    "emmy",
    "sofia",
    "marie",
    "rosalind",
    "lise",
    "chien",
    "tu",
    "wang",
    "amara",
    "kofi",
    "ngozi",
    "aiko",
    "hiro",
    "mei",
    "ravi",
    "priya",
    "omar",
    "leila",
    "ines",
];
const LAST: &[&str] = &[
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "liskov",
    "dijkstra",
    "knuth",
    "hamilton",
    "ritchie",
    "thompson",
    "allen",
    "backus",
    "perlman",
    "berners",
    "cerf",
    "lamport",
    "wirth",
    "lamarr",
    "johnson",
    "easley",
    "goldwasser",
    "wilson",
    "matsumoto",
    "rossum",
    "stroustrup",
    "gosling",
    "hejlsberg",
    "lerdorf",
    "wall",
    "eich",
    "keller",
    "sammet",
    "jones",
    "conway",
    "boyd",
    "teitelbaum",
    "sagan",
    "shannon",
    "wiener",
    "church",
    "goedel",
    "noether",
    "kovalevskaya",
    "curie",
    "franklin",
    "meitner",
    "wu",
    "youyou",
    "zhenyi",
    "okafor",
    "annan",
    "adichie",
    "tanaka",
    "sato",
    "lin",
    "raman",
    "patel",
    "khayyam",
    "mansour",
    "ferreira",
];
const TOPICS: &[&str] = &[
    "compilers",
    "jazz",
    "startups",
    "gardening",
    "poetry",
    "football",
    "climate",
    "design",
    "parenting",
    "crypto",
    "history",
    "philosophy",
    "cooking",
    "running",
    "cinema",
    "photography",
    "astronomy",
    "chess",
    "languages",
    "music",
];
const FORMATS: &[&str] = &["talk", "ama", "night", "club", "hour", "salon", "circle", "live", "roundtable", "meetup"];

/// A small deterministic generator, so that two runs seed the same database.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Signs up accounts that can sign in (with [`PASSWORD`]).
pub(super) async fn real_accounts(store: &SqliteStore, names: &[&str]) -> anyhow::Result<Vec<stoa_proto::UserId>> {
    let invite = store.create_admin_invite(names.len() as u32 + 1).await?;
    let hash = stoa_server::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut ids = Vec::new();
    for name in names {
        let new = NewAccount {
            invite: invite.clone(),
            username: name.to_string(),
            display_name: name.to_string(),
            password_hash: hash.clone(),
        };
        ids.push(store.sign_up(new).await?.id);
    }
    Ok(ids)
}

pub(super) fn summary(times: &mut [f64]) -> Value {
    times.sort_by(f64::total_cmp);
    json!({"requests": times.len(), "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)})
}

pub(super) fn print(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{report}");
    } else {
        eprintln!();
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

/// One of another user's requests, in turn: their profile, the hallway, their notifications, and a write
/// (following or unfollowing someone), which waits for the database's write lock like any other.
async fn other_request(http: &reqwest::Client, base: &str, token: &str, i: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let req = match i % 4 {
        0 => http.get(format!("{base}/api/v1/me")),
        1 => http.get(format!("{base}/api/v1/rooms")),
        2 => http.get(format!("{base}/api/v1/notifications?limit=20")),
        _ if (i / 4).is_multiple_of(2) => http.post(format!("{base}/api/v1/users/mover/follow")),
        _ => http.delete(format!("{base}/api/v1/users/mover/follow")),
    };
    let resp = req.bearer_auth(token).send().await?;
    anyhow::ensure!(resp.status().is_success(), "a request failed: {}", resp.status());
    resp.bytes().await?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

/// `stoa bench --fanout`.
pub async fn fanout(followers: usize, requests: usize, club: bool, json: bool) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let path = data.path().to_path_buf();
    let seeded = Instant::now();
    {
        let store = SqliteStore::open(&path).await?;
        let ids = real_accounts(&store, &["star", "other", "mover"]).await?;
        let names: Vec<(String, String)> = (0..followers).map(|i| (format!("fan{i}"), format!("Fan {i}"))).collect();
        let stars = if club {
            let new = stoa_store::NewClub {
                handle: "stars".into(),
                name: "Stars".into(),
                description: String::new(),
                rules: String::new(),
                policy: stoa_proto::ClubPolicy::Open,
                owner: ids[0],
            };
            Some(store.create_club(&new).await?.id)
        } else {
            None
        };
        for chunk in names.chunks(10_000) {
            let fans = store.seed_users(chunk).await?;
            match stars {
                Some(club) => store.seed_club_follows(club, &fans).await?,
                None => store.seed_follows(&fans, ids[0]).await?,
            }
            if !json {
                eprint!("\rstoa bench: seeding followers  ");
            }
        }
    }
    let seeded = seeded.elapsed();
    let own = start_own_server_on(data, 1, Some("--reconnect-grace-secs 3600"), true)?;
    let base = own.base.clone();
    let star = Api::login(&base, "star", PASSWORD).await?;
    let other = Api::login(&base, "other", PASSWORD).await?;
    let http = stoa_client::tls::http();
    // Warm up, then the other user's requests with nothing else going on.
    for i in 0..20 {
        other_request(&http, &base, &other.token, i).await?;
    }
    let mut before = Vec::with_capacity(requests);
    for i in 0..requests {
        before.push(other_request(&http, &base, &other.token, i).await?);
    }
    // A room by someone with no followers, for comparison with the star's.
    let t = Instant::now();
    other.post("/api/v1/rooms", json!({"title": "Quiet room", "visibility": "open"})).await?;
    let quiet_start_ms = t.elapsed().as_secs_f64() * 1000.0;

    let store = SqliteStore::open(&path).await?;
    let started = Instant::now();
    let body = if club {
        json!({"title": "The star's room", "visibility": "social", "club": "stars"})
    } else {
        json!({"title": "The star's room", "visibility": "open"})
    };
    let room = star.post("/api/v1/rooms", body).await?;
    let star_start_ms = started.elapsed().as_secs_f64() * 1000.0;
    let room = stoa_proto::RoomId(room["id"].as_str().context("no room ID")?.to_string());
    let watcher = tokio::spawn(async move {
        loop {
            let told = store.notifications_about_room(&room).await.unwrap_or(0);
            if told as usize >= followers {
                return Ok::<_, anyhow::Error>(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "only {told} of {followers} told in 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut during = Vec::new();
    let mut by_kind: [Vec<f64>; 4] = Default::default();
    let mut i = 0;
    while !watcher.is_finished() {
        let ms = other_request(&http, &base, &other.token, i).await?;
        during.push(ms);
        by_kind[i % 4].push(ms);
        i += 1;
    }
    let took = watcher.await??;
    let kinds = ["me", "hallway", "notifications", "follow_write"];
    let during_by_kind: serde_json::Map<String, Value> =
        kinds.iter().zip(by_kind.iter_mut()).map(|(k, t)| (k.to_string(), summary(t))).collect();
    let (before, during) = (summary(&mut before), summary(&mut during));
    let report = json!({
        "mode": if club { "fanout_club" } else { "fanout" },
        "followers": followers,
        "seed_s": seeded.as_secs_f64(),
        "room_start_ms": star_start_ms,
        "room_start_no_followers_ms": quiet_start_ms,
        "last_notification_stored_s": took.as_secs_f64(),
        "notifications_per_s": followers as f64 / took.as_secs_f64(),
        "other_requests_before": before,
        "other_requests_during": during,
        "other_requests_during_by_kind": during_by_kind,
        "p99_ratio_during_to_before": during["p99_ms"].as_f64().unwrap_or(0.0) / before["p99_ms"].as_f64().unwrap_or(1.0).max(1e-9),
    });
    drop(own);
    print(&report, json)
}

/// `stoa bench --search`.
pub async fn search(users: usize, events: usize, requests: usize, json: bool) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let path = data.path().to_path_buf();
    let seeded = Instant::now();
    let mut rng = Lcg(7);
    {
        let store = SqliteStore::open(&path).await?;
        let me = real_accounts(&store, &["searcher"]).await?[0];
        let mut ids = Vec::with_capacity(users);
        let mut names = Vec::with_capacity(users);
        for i in 0..users {
            let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
            names.push((format!("{first}_{last}{i}"), format!("{} {}", capitalize(first), capitalize(last))));
        }
        for chunk in names.chunks(10_000) {
            ids.extend(store.seed_users(chunk).await?);
            if !json {
                eprint!("\rstoa bench: seeding {} of {users} accounts  ", ids.len());
            }
        }
        // The searcher follows 200 people, so that social events and rooms have someone to be seen through.
        for id in ids.iter().step_by((users / 200).max(1)).take(200) {
            store.follow(me, *id).await?;
            store.follow(*id, me).await?;
        }
        for i in 0..events {
            let visibility = match rng.next() % 10 {
                0 => stoa_proto::Visibility::Closed,
                1 | 2 => stoa_proto::Visibility::Social,
                _ => stoa_proto::Visibility::Open,
            };
            let topic = rng.pick(TOPICS);
            let title = format!("{} {} {}", capitalize(topic), rng.pick(FORMATS), i);
            let description = format!(
                "A conversation about {topic} with {} {} and friends.",
                capitalize(rng.pick(FIRST)),
                capitalize(rng.pick(LAST))
            );
            store
                .create_event(&NewEvent {
                    id: stoa_proto::EventId(stoa_store::random_code(12)),
                    title,
                    description,
                    starts_at: now() + 3600 + (rng.next() % (59 * 86400)) as i64,
                    visibility,
                    creator: ids[rng.next() % ids.len()],
                    cohosts: Vec::new(),
                    invited: Vec::new(),
                    club: None,
                })
                .await?;
            if !json && i % 1000 == 0 {
                eprint!("\rstoa bench: seeding {i} of {events} events    ");
            }
        }
    }
    let seeded = seeded.elapsed();
    let own = start_own_server_on(data, 1, None, true)?;
    let searcher = Api::login(&own.base, "searcher", PASSWORD).await?;
    // Queries as people type them: two or three letters of a name, a whole name, a first and last name, a
    // topic, a prefix of one, two words of an event; and one letter, the worst case.
    let mut queries = Vec::new();
    for i in 0..64 {
        let (first, last, topic) = (rng.pick(FIRST), rng.pick(LAST), rng.pick(TOPICS));
        queries.push(match i % 8 {
            0 => first[..2.min(first.len())].to_string(),
            1 => last[..3.min(last.len())].to_string(),
            2 => first.to_string(),
            3 => format!("{first} {last}"),
            4 => topic.to_string(),
            5 => topic[..4.min(topic.len())].to_string(),
            6 => format!("{topic} {}", rng.pick(FORMATS)),
            _ => first[..1].to_string(),
        });
    }
    let http = stoa_client::tls::http();
    let mut times = Vec::with_capacity(requests);
    let mut by_class: [Vec<f64>; 8] = Default::default();
    let mut found = 0usize;
    for i in 0..requests + 50 {
        let q = &queries[i % queries.len()];
        let start = Instant::now();
        let resp = http
            .get(format!("{}/api/v1/search", own.base))
            .query(&[("q", q)])
            .bearer_auth(&searcher.token)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "search failed: {}", resp.status());
        let body: Value = resp.json().await?;
        if i >= 50 {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            by_class[(i % queries.len()) % 8].push(ms);
            found += body["people"].as_array().map_or(0, Vec::len) + body["events"].as_array().map_or(0, Vec::len);
        }
    }
    let by_query: serde_json::Map<String, Value> = [
        "2 letters of a first name",
        "3 letters of a last name",
        "a first name",
        "first and last name",
        "a topic",
        "4 letters of a topic",
        "topic and format",
        "1 letter",
    ]
    .iter()
    .zip(by_class.iter_mut())
    .map(|(k, t)| (k.to_string(), summary(t)))
    .collect();
    let report = json!({
        "mode": "search",
        "users": users,
        "events": events,
        "seed_s": seeded.as_secs_f64(),
        "results_per_query": found as f64 / requests.max(1) as f64,
        "search": summary(&mut times),
        "by_query": by_query,
    });
    drop(own);
    print(&report, json)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
