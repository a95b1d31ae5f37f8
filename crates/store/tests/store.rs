//! The store on its own, against a fresh database: invites and accounts, sessions and their expiry, and the
//! social graph. Time is moved by ageing rows in the database itself, as a month of real time would. The
//! test command runs these twice: on SQLite, and on Postgres (`STOA_TEST_POSTGRES`, see
//! `scripts/with-postgres`).

use std::sync::Arc;
use stoa_store::{NewAccount, Store, StoreError};

/// A fresh database: SQLite in a new folder, or a new Postgres database.
struct Db {
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Db {
    /// Another handle on the same database, as `stoa admin` beside the server.
    async fn open(&self) -> Arc<dyn Store> {
        stoa_store::open(self.dir.path(), self.url.as_deref()).await.unwrap()
    }

    /// Runs one statement on the database behind the store's back.
    async fn execute(&self, sql: &str, binds: &[&dyn ToSql]) {
        match &self.url {
            Some(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = b.bind_pg(query);
                }
                query.execute(&pool).await.unwrap();
                pool.close().await;
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("stoa.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = b.bind_sqlite(query);
                }
                query.execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }
}

/// A value either database can take as a parameter.
trait ToSql: Sync {
    fn bind_pg<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q>;
    fn bind_sqlite<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q>;
}
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

impl ToSql for i64 {
    fn bind_pg<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(*self)
    }
    fn bind_sqlite<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(*self)
    }
}

impl ToSql for Vec<u8> {
    fn bind_pg<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(self.as_slice())
    }
    fn bind_sqlite<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(self.as_slice())
    }
}

impl ToSql for &str {
    fn bind_pg<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(*self)
    }
    fn bind_sqlite<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(*self)
    }
}

async fn store() -> (Arc<dyn Store>, Db) {
    let db = Db { dir: tempfile::tempdir().unwrap(), url: stoa_store::test_database() };
    (db.open().await, db)
}

async fn account(store: &Arc<dyn Store>, invite: &str, username: &str) -> stoa_store::Account {
    let new = NewAccount {
        invite: invite.into(),
        username: username.into(),
        display_name: username.into(),
        password_hash: "not a hash".into(),
    };
    store.sign_up(new).await.unwrap()
}

/// Moves a session's clock: when it began and when it was last used, `days` ago.
async fn age(db: &Db, token_hash: &str, created_days: i64, used_days: i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    db.execute(
        "UPDATE sessions SET created_at = $1, last_used_at = $2 WHERE token_hash = $3",
        &[&(now - created_days * 86_400), &(now - used_days * 86_400), &token_hash],
    )
    .await;
}

#[tokio::test]
async fn sessions_expire_after_30_idle_days_or_a_year_and_can_all_be_revoked() {
    let (store, dir) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let alice = account(&store, &invite, "alice").await;
    for (hash, created, used, alive) in [
        ("fresh", 0, 0, true),
        ("used-29-days-ago", 100, 29, true),
        ("idle-31-days", 40, 31, false),
        ("used-daily-but-366-days-old", 366, 0, false),
    ] {
        store.create_session(alice.id, hash, "").await.unwrap();
        age(&dir, hash, created, used).await;
        let found = store.session_account(hash).await.unwrap();
        assert_eq!(found.map(|a| a.id), alive.then_some(alice.id), "{hash}");
    }
    // Use counts: the session used 29 days ago was just used, so a day later it is still alive.
    let found = store.session_account("used-29-days-ago").await.unwrap();
    assert!(found.is_some(), "using it keeps it alive");
    assert!(store.session_account("idle-31-days").await.unwrap().is_none(), "expired stays expired");

    let bob = account(&store, &invite, "bob").await;
    store.create_session(bob.id, "bobs", "").await.unwrap();
    assert_eq!(store.delete_sessions_of(alice.id).await.unwrap(), 2, "the two live ones");
    assert!(store.session_account("fresh").await.unwrap().is_none());
    assert!(store.session_account("used-29-days-ago").await.unwrap().is_none());
    assert!(store.session_account("bobs").await.unwrap().is_some(), "another user's session stays");
}

#[tokio::test]
async fn an_invite_is_spent_once_and_a_username_taken_once() {
    let (store, _dir) = store().await;
    let invite = store.bootstrap_invite().await.unwrap().expect("a fresh database has a bootstrap invite");
    let admin = account(&store, &invite, "admin").await;
    assert!(admin.is_admin, "the bootstrap invite makes the first account an admin");
    assert_eq!(store.bootstrap_invite().await.unwrap(), None, "and only the first");
    let again = NewAccount {
        invite: invite.clone(),
        username: "second".into(),
        display_name: "Second".into(),
        password_hash: "x".into(),
    };
    assert!(store.sign_up(again).await.is_err(), "a one-use invite works once");
    let code = store.create_user_invite(admin.id, 1).await.unwrap();
    assert!(matches!(store.create_user_invite(admin.id, 1).await, Err(StoreError::QuotaExhausted)));
    let user = account(&store, &code, "plain").await;
    assert!(!user.is_admin, "a user's invite makes a plain user");
    let cli = account(&store, &store.create_admin_invite(3).await.unwrap(), "from_cli").await;
    assert!(!cli.is_admin, "`stoa admin invite` invites people, it does not make admins");
    let other = store.create_admin_invite(5).await.unwrap();
    let taken =
        NewAccount { invite: other, username: "plain".into(), display_name: "Plain".into(), password_hash: "x".into() };
    assert!(store.sign_up(taken).await.is_err(), "the username is taken");
    assert_eq!(store.credentials("PLAIN").await.unwrap().map(|(a, _)| a.id), Some(user.id), "any case");
}

#[tokio::test]
async fn relations_among_answers_for_the_people_asked_about_and_no_one_else() {
    let (store, _dir) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let me = account(&store, &invite, "me").await.id;
    let [a, b, c, d] = [
        account(&store, &invite, "aaa").await.id,
        account(&store, &invite, "bbb").await.id,
        account(&store, &invite, "ccc").await.id,
        account(&store, &invite, "ddd").await.id,
    ];
    store.follow(a, me).await.unwrap();
    store.follow(me, b).await.unwrap();
    store.follow(me, d).await.unwrap();
    store.block(c, me).await.unwrap();
    let among = store.relations_among(me, &[a, b, c, me, a]).await.unwrap();
    assert_eq!(among.followed_by, [a].into());
    assert_eq!(among.following, [b].into(), "d is followed, but was not asked about");
    assert_eq!(among.blocked_by, [c].into());
    assert_eq!(store.relations_among(me, &[]).await.unwrap(), stoa_store::Among::default());

    store.block(me, a).await.unwrap();
    store.block(me, d).await.unwrap();
    let outgoing = store.outgoing_among(me, &[a, b, c, me]).await.unwrap();
    assert_eq!(outgoing.following, [b].into(), "the block of a dropped no follow of mine; d was not asked about");
    assert_eq!(outgoing.blocking, [a].into(), "d is blocked, but was not asked about");
}

/// Regression: transactions that read and then write (a follow checks blocks first) failed at once with
/// `SQLITE_BUSY` when another connection wrote between their read and their write, since WAL cannot
/// upgrade a stale read snapshot. With the notification worker writing in batches this was a 500 on a
/// follow under load. Two stores on one file play the server and `stoa admin`; every follow must succeed.
#[tokio::test]
async fn a_read_then_write_transaction_waits_for_another_writer_instead_of_failing() {
    let (store, dir) = store().await;
    let other = dir.open().await;
    let invite = store.create_admin_invite(500).await.unwrap();
    let star = account(&store, &invite, "star").await;
    let mut people = Vec::new();
    for i in 0..40 {
        people.push(account(&store, &invite, &format!("p{i}")).await);
    }
    let names: Vec<(String, String)> = (0..10_000).map(|i| (format!("seed{i}"), format!("Seed {i}"))).collect();
    let writer = tokio::spawn(async move {
        for chunk in names.chunks(500) {
            let ids = other.seed_users(chunk).await.unwrap();
            other.seed_follows(&ids, star.id).await.unwrap();
            // A pause between batches, as the notification worker makes.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    // Follows and unfollows while the other store writes: each reads (the blocks) and then writes.
    for (n, a) in people.iter().enumerate() {
        let b = &people[(n + 1) % people.len()];
        store.follow(a.id, b.id).await.expect("a follow while another connection writes");
        store.unfollow(a.id, b.id).await.unwrap();
    }
    writer.await.unwrap();
}

#[tokio::test]
async fn a_deleted_account_leaves_a_stand_in_and_keeps_only_the_chat_a_report_needs() {
    use stoa_proto::{ModerationAction, ReportReason, RoomId};
    use stoa_store::{NewReport, RoomLogEntry};
    let (store, _dir) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let alice = account(&store, &invite, "alice").await;
    let bob = account(&store, &invite, "bob").await;
    store.follow(bob.id, alice.id).await.unwrap();
    store.create_session(bob.id, "bobs", "curl/8").await.unwrap();
    let (reported, other) = (RoomId("reportedroom".into()), RoomId("quietroom000".into()));
    let now = 10_000_000_000i64;
    let chat = |room: &RoomId, msg_id, at_ms| RoomLogEntry::Chat {
        room: room.clone(),
        msg_id,
        user: bob.id,
        text: format!("message {msg_id}"),
        at_ms,
    };
    store
        .append_room_log(&[
            chat(&reported, 1, now - 60_000),
            chat(&reported, 2, now - 3_600_000),
            chat(&other, 1, now),
            RoomLogEntry::Moderation {
                room: reported.clone(),
                actor: alice.id,
                action: ModerationAction::DeleteChat,
                target: Some(bob.id),
                detail: Some("1".into()),
                at_ms: now - 30_000,
            },
        ])
        .await
        .unwrap();
    let report = NewReport {
        reporter: alice.id,
        room: reported.clone(),
        room_title: "Reported".into(),
        target: Some(bob.id),
        reason: ReportReason::Spam,
        text: String::new(),
        club: None,
        message: None,
    };
    let (id, new) = store.create_report(&report, now).await.unwrap();
    assert!(new);
    assert_eq!(store.create_report(&report, now).await.unwrap(), (id, false), "a repeat is the same report");
    store.delete_account(bob.id).await.unwrap();

    assert!(store.session_account("bobs").await.unwrap().is_none());
    assert!(store.credentials("bob").await.unwrap().is_none());
    let stand_in = store.account(bob.id).await.unwrap().unwrap();
    assert_eq!(
        (stand_in.username.as_str(), stand_in.display_name.as_str()),
        (&*format!("~deleted-{}", bob.id), "Deleted account")
    );
    assert!(store.followers(alice.id, None, 10).await.unwrap().users.is_empty());
    let kept = store.chat_log(&reported, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "only the message within the report's ten minutes stays");
    assert_eq!(kept[0].text, "message 1");
    assert_eq!(kept[0].deleted_by.as_ref().map(|u| u.id), Some(alice.id));
    assert!(store.chat_log(&other, 0, i64::MAX, 10).await.unwrap().is_empty());
    let log = store.moderation_log(&reported, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(log[0].detail.as_deref(), Some("message 1"), "the log keeps the deleted message's text");
    assert_eq!(store.report(id).await.unwrap().unwrap().target.unwrap().display_name, "Deleted account");
    assert!(store.search_people(alice.id, "deleted*", 10).await.unwrap().is_empty());
    assert!(store.search_people(alice.id, "bob*", 10).await.unwrap().is_empty());
    // Retention: old chat goes, but what a report needs stays.
    let carol = account(&store, &invite, "carol").await;
    let chat_of = |room: &RoomId, msg_id, at_ms| RoomLogEntry::Chat {
        room: room.clone(),
        msg_id,
        user: carol.id,
        text: format!("carol {msg_id}"),
        at_ms,
    };
    store.append_room_log(&[chat_of(&reported, 7, now + 1000), chat_of(&other, 8, now + 1000)]).await.unwrap();
    assert_eq!(store.prune_chat(now + 2000).await.unwrap(), 1, "the quiet room's message goes");
    assert_eq!(store.chat_log(&reported, 0, i64::MAX, 10).await.unwrap().len(), 2);
    assert!(store.chat_log(&other, 0, i64::MAX, 10).await.unwrap().is_empty());
    // Deleting it again, or the only admin, is refused.
    assert!(matches!(store.delete_account(bob.id).await, Err(StoreError::NoSuchUser)));
    assert!(store.set_admin(alice.id, true).await.unwrap());
    assert!(matches!(store.delete_account(alice.id).await, Err(StoreError::LastAdmin)));
}

#[tokio::test]
async fn a_room_has_one_owner_whose_lease_another_node_takes_only_once_it_lapses() {
    let (store, db) = store().await;
    let invite = store.create_admin_invite(5).await.unwrap();
    let host = account(&store, &invite, "host").await;
    let room = stoa_proto::RoomId("leasedroom01".into());
    let record = stoa_store::RoomRecord {
        id: room.clone(),
        title: "Leased".into(),
        visibility: stoa_proto::Visibility::Open,
        creator: host.id,
    };
    store.create_room(&record).await.unwrap();
    let now = 1_000_000_000_000i64;

    // Just made and not yet claimed: no other node takes it for an orphan.
    assert!(store.orphaned_rooms("b", now).await.unwrap().is_empty());
    assert!(store.claim_room(&room, "a", now, now + 4_000).await.unwrap());
    assert_eq!(store.room_owner(&room).await.unwrap(), Some(("a".into(), now + 4_000)));

    // While A's lease holds, B can neither claim it nor count it an orphan; A renews it.
    assert!(!store.claim_room(&room, "b", now + 1_000, now + 5_000).await.unwrap());
    assert!(store.orphaned_rooms("b", now + 1_000).await.unwrap().is_empty());
    assert_eq!(store.renew_leases("a", now + 6_000).await.unwrap(), vec![room.clone()]);
    assert!(!store.claim_room(&room, "b", now + 5_000, now + 9_000).await.unwrap());

    // A falls silent: once the lease lapses, B takes it, and A's next renewal finds it gone.
    assert_eq!(store.orphaned_rooms("b", now + 6_001).await.unwrap().len(), 1);
    assert!(store.claim_room(&room, "b", now + 6_001, now + 10_001).await.unwrap());
    assert!(!store.claim_room(&room, "c", now + 6_002, now + 10_002).await.unwrap());
    assert!(store.renew_leases("a", now + 11_000).await.unwrap().is_empty());
    assert_eq!(store.room_owner(&room).await.unwrap().map(|(n, _)| n), Some("b".into()));

    // An ended room is nobody's.
    store.end_room(&room).await.unwrap();
    assert!(!store.claim_room(&room, "b", now + 7_000, now + 11_000).await.unwrap());
    assert!(store.renew_leases("b", now + 11_000).await.unwrap().is_empty());
    assert_eq!(store.room_owner(&room).await.unwrap(), None);

    // A room left without an owner for half a minute (a single server's, before it joined a cluster) is
    // an orphan.
    let old = stoa_proto::RoomId("unownedroom1".into());
    store.create_room(&stoa_store::RoomRecord { id: old.clone(), ..record }).await.unwrap();
    db.execute("UPDATE rooms SET created_at = created_at - 60 WHERE id = $1", &[&old.0.as_str()]).await;
    let real_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let orphans: Vec<_> = store.orphaned_rooms("b", real_now).await.unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(orphans, vec![old]);
}

#[tokio::test]
async fn a_setting_made_by_racing_nodes_is_the_first_ones() {
    let (store, db) = store().await;
    let other = db.open().await;
    let (a, b) = tokio::join!(
        store.setting_or_insert("cluster_key", "from-a"),
        other.setting_or_insert("cluster_key", "from-b")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "both nodes read the same key");
    assert!(a == "from-a" || a == "from-b");
    assert_eq!(store.setting_or_insert("cluster_key", "later").await.unwrap(), a);
}

#[tokio::test]
async fn the_last_admin_cannot_stop_being_one() {
    let (store, _dir) = store().await;
    let invite = store.bootstrap_invite().await.unwrap().unwrap();
    let first = account(&store, &invite, "first").await;
    assert!(matches!(store.set_admin(first.id, false).await, Err(stoa_store::StoreError::LastAdmin)));
    let code = store.create_admin_invite(1).await.unwrap();
    let second = account(&store, &code, "second").await;
    assert!(store.set_admin(second.id, true).await.unwrap());
    // A suspended admin does not count as the one left.
    assert!(store.suspend(second.id, None, "away").await.unwrap());
    assert!(matches!(store.set_admin(first.id, false).await, Err(stoa_store::StoreError::LastAdmin)));
    assert!(store.unsuspend(second.id, None).await.unwrap());
    assert!(store.set_admin(first.id, false).await.unwrap(), "another admin is left");
    assert!(!store.account(first.id).await.unwrap().unwrap().is_admin);
}

#[tokio::test]
async fn a_webhook_delivery_is_claimed_by_one_node_and_finished_ones_are_pruned() {
    let (store, db) = store().await;
    let other = db.open().await;
    let invite = store.bootstrap_invite().await.unwrap().unwrap();
    let admin = account(&store, &invite, "admin").await;
    let hook =
        store.create_webhook("https://h.example/x", &["room.started".into()], "whsec_x", admin.id).await.unwrap();
    for _ in 0..10 {
        assert_eq!(store.enqueue_deliveries("room.started", "{}", 1_000).await.unwrap(), 1);
    }
    // Two nodes ask at once: each delivery goes to one of them.
    let (a, b) = tokio::join!(store.claim_deliveries(2_000, 100_000, 64), other.claim_deliveries(2_000, 100_000, 64));
    let mut ids: Vec<i64> = a.unwrap().iter().chain(b.unwrap().iter()).map(|d| d.id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (10, 10), "each claimed once");
    assert!(store.claim_deliveries(50_000, 150_000, 64).await.unwrap().is_empty(), "claimed until 100,000");
    // A claim that lapsed (its node died mid-attempt) is due again.
    let again = store.claim_deliveries(100_001, 200_000, 64).await.unwrap();
    assert_eq!(again.len(), 10);
    store.record_attempt(again[0].id, &stoa_store::Attempt::Delivered { status: 204 }, 3_000).await.unwrap();
    assert_eq!(store.prune_deliveries(3_000).await.unwrap(), 0, "kept until it is older than the cut");
    assert_eq!(store.prune_deliveries(3_001).await.unwrap(), 1);
    assert_eq!(store.deliveries(hook.id, 100).await.unwrap().len(), 9, "the pending ones stay");
}

#[tokio::test]
async fn a_deleted_accounts_replays_clips_and_words_in_transcripts_go_and_its_username_waits_30_days() {
    use stoa_proto::{RecordingKind, RoomId, UserSummary, Visibility};
    use stoa_store::{RecordingRecord, RoomRecord};
    let (store, db) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let alice = account(&store, &invite, "alice").await;
    let bob = account(&store, &invite, "bob").await;
    let summary = |a: &stoa_store::Account| UserSummary {
        id: a.id,
        username: a.username.clone(),
        display_name: a.display_name.clone(),
    };
    let (bobs, alices) = (RoomId("bobsroom0000".into()), RoomId("alicesroom00".into()));
    for (room, creator) in [(&bobs, bob.id), (&alices, alice.id)] {
        let record = RoomRecord { id: room.clone(), title: "T".into(), visibility: Visibility::Open, creator };
        store.create_room(&record).await.unwrap();
    }
    let recording =
        |id: &str, kind, room: &RoomId, host: &stoa_store::Account, by: &stoa_store::Account| RecordingRecord {
            id: id.into(),
            kind,
            room: room.clone(),
            title: "T".into(),
            visibility: Visibility::Open,
            host: summary(host),
            made_by: summary(by),
            allowed: Vec::new(),
            file: format!("{id}.opus"),
            started_at_ms: 1,
            duration_ms: Some(1),
            report: None,
            club: None,
        };
    for r in [
        recording("bobsreplay", RecordingKind::Replay, &bobs, &bob, &bob),
        recording("bobsclip", RecordingKind::Clip, &alices, &alice, &bob),
        recording("alicesreplay", RecordingKind::Replay, &alices, &alice, &alice),
        recording("alicesclip", RecordingKind::Clip, &bobs, &bob, &alice),
    ] {
        store.add_recording(&r).await.unwrap();
    }
    // Transcripts: kept in order of their time, found by words (case aside; LIKE's wildcards are words).
    store.add_transcript_line("alicesreplay", bob.id, (1500, 2500), "Ahoy there, 100% sure").await.unwrap();
    store.add_transcript_line("alicesreplay", alice.id, (0, 1000), "Hello world").await.unwrap();
    store.add_transcript_line("bobsreplay", bob.id, (0, 800), "ahoy").await.unwrap();
    let lines = store.transcript("alicesreplay").await.unwrap();
    let said: Vec<(&str, &str)> = lines.iter().map(|l| (l.speaker.username.as_str(), l.text.as_str())).collect();
    assert_eq!(said, [("alice", "Hello world"), ("bob", "Ahoy there, 100% sure")]);
    assert_eq!((lines[1].at_ms, lines[1].end_ms), (1500, 2500));
    let mut found: Vec<String> = store
        .search_transcripts("AHOY", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(r, l)| format!("{} {}", r.id, l.text))
        .collect();
    found.sort();
    assert_eq!(found, ["alicesreplay Ahoy there, 100% sure", "bobsreplay ahoy"]);
    assert_eq!(store.search_transcripts("0% s", 10).await.unwrap().len(), 1, "a % is a character");
    assert!(store.search_transcripts("h_llo", 10).await.unwrap().is_empty(), "an _ is a character");
    let mut files = store.delete_account(bob.id).await.unwrap();
    files.sort();
    assert_eq!(files, vec!["bobsclip.opus", "bobsreplay.opus"]);
    assert!(store.recording("bobsreplay").await.unwrap().is_none());
    assert!(store.recording("bobsclip").await.unwrap().is_none());
    assert!(store.recording("alicesreplay").await.unwrap().is_some(), "his voice in others' replays stays");
    assert!(store.recording("alicesclip").await.unwrap().is_some(), "a clip of his room that alice made is hers");
    let left: Vec<String> = store.transcript("alicesreplay").await.unwrap().into_iter().map(|l| l.text).collect();
    assert_eq!(left, ["Hello world"], "his words leave the transcripts of others' replays");
    assert!(store.search_transcripts("ahoy", 10).await.unwrap().is_empty());
    // His username is not to be had for 30 days, in any case.
    let again = NewAccount {
        invite: invite.clone(),
        username: "bob".into(),
        display_name: "Not Bob".into(),
        password_hash: "x".into(),
    };
    assert!(matches!(store.sign_up(again).await, Err(StoreError::UsernameTaken)));
    db.execute("UPDATE users SET deleted_at = deleted_at - 31 * 86400 WHERE id = $1", &[&bob.id.0]).await;
    let again =
        NewAccount { invite, username: "bob".into(), display_name: "New Bob".into(), password_hash: "x".into() };
    assert_eq!(store.sign_up(again).await.unwrap().username, "bob");
}

#[tokio::test]
async fn session_reads_many_at_once_or_cut_short_are_all_answered_and_see_a_sign_out_at_once() {
    let (store, _db) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let alice = account(&store, &invite, "alice").await;
    store.create_session(alice.id, "s", "").await.unwrap();
    // Reads dropped after their first step, as a request is when its client goes away.
    for _ in 0..16 {
        let cut = tokio::time::timeout(std::time::Duration::ZERO, store.session_account("s")).await;
        assert!(cut.is_err() || cut.is_ok_and(|r| r.is_ok()));
    }
    // More reads at once than SQLite's readers, each a session and the joiner's relations.
    let reads: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let account = store.session_account("s").await.unwrap();
                store.relations_among(alice.id, &[stoa_proto::UserId(1)]).await.unwrap();
                account.map(|a| a.id)
            })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap(), Some(alice.id));
    }
    store.delete_session("s").await.unwrap();
    assert!(store.session_account("s").await.unwrap().is_none(), "a sign-out is seen by the next read");
}

/// A message's send is one call under the write lock (on SQLite a transaction of several statements sent at
/// once): one whose caller goes away at any point is written whole or not at all, and the store takes the
/// next write at once, through the same connection and through the pool.
#[tokio::test]
async fn a_send_cut_short_is_written_whole_or_not_at_all_and_the_next_write_goes_through() {
    let (store, db) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    let (alice, bob) = (account(&store, &invite, "alice").await, account(&store, &invite, "bob").await);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (thread, _) = store.start_thread(alice.id, &[bob.id], "hello", now).await.unwrap().unwrap();
    // Bob answers from his Requests, each send dropped after a different wait, as requests whose clients go,
    // and each followed at once by a write through the pool.
    let next = std::time::Duration::from_secs(2);
    for i in 0..25u64 {
        // Ten cut after their first step (on Postgres, with `BEGIN` in flight), then each a little later;
        // 26 in all from Bob, under the 30 a minute.
        let wait = std::time::Duration::from_micros(i.saturating_sub(10) * 50);
        let send = store.send_message(thread, bob.id, "a reply", now + 1 + i as i64);
        let cut = tokio::time::timeout(wait, send).await;
        assert!(cut.is_err() || cut.is_ok_and(|r| r.is_ok_and(|r| r.is_ok())));
        let muted = tokio::time::timeout(next, store.mute_thread(alice.id, thread, i % 2 == 0)).await;
        assert!(muted.expect("a write through the pool is not held up").unwrap());
    }
    let sent = tokio::time::timeout(next, store.send_message(thread, bob.id, "the last", now + 100)).await;
    let sent = sent.expect("the next send is not held up").unwrap().unwrap();
    // Each message that was written moved Alice's unread count and the thread's newest; none half.
    let seen = store.thread_of(alice.id, thread).await.unwrap().unwrap();
    let page = store.messages_of(alice.id, thread, None, 50).await.unwrap().unwrap();
    let replies = page.iter().filter(|m| m.sender.id == bob.id).count() as u32;
    assert_eq!(seen.unread, replies, "every reply written counts as unread, and only those");
    assert_eq!(seen.last_message.map(|m| m.id), Some(sent.id));
    let theirs = store.thread_of(bob.id, thread).await.unwrap().unwrap();
    assert!(!theirs.request && theirs.unread == 0, "his answers accepted the thread, and he has read it");
    // On Postgres, no connection is left inside a transaction that nothing will end (sqlx issue 4393).
    if let Some(url) = &db.url {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let (open,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stoa' \
             AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(open, 0, "a cut write left its connection in a transaction");
        pool.close().await;
    }
}

/// The bounds on clubs' requests, invitations and ownership, reached by many at once: racing requests stop
/// at the club's bound, racing invitations at the person's and the club's, and no one owns more clubs than
/// they may, even when clubs made on other days are counted.
#[tokio::test]
async fn club_bounds_hold_when_requests_and_invitations_race() {
    use stoa_proto::ClubPolicy;
    use stoa_store::{CLUB_INVITATIONS_PER_CLUB, CLUB_INVITATIONS_PER_PERSON, CLUB_REQUESTS_PER_PERSON, InviteOutcome};
    let (store, db) = store().await;
    let names: Vec<(String, String)> = (0..260).map(|i| (format!("c{i}"), format!("C {i}"))).collect();
    let ids = store.seed_users(&names).await.unwrap();
    let club = |handle: &str, owner: usize, policy| stoa_store::NewClub {
        handle: handle.into(),
        name: "N".into(),
        description: String::new(),
        rules: String::new(),
        policy,
        owner: ids[owner],
    };

    // One owner makes clubs on many days: at most 10 owned at once.
    let mut owned = 0;
    for i in 0..12 {
        if i % 3 == 0 {
            // Three a day: age the day's clubs so that the next three may be made.
            db.execute("UPDATE clubs SET created_at = created_at - 90000", &[]).await;
        }
        owned += store.create_club(&club(&format!("owned_{i}"), 1, ClubPolicy::Open)).await.is_ok() as u32;
    }
    assert_eq!(owned, stoa_store::CLUBS_OWNED, "an owner holds at most 10 clubs, whatever the days");

    // One person asks 25 clubs at once: 20 requests wait, 5 are refused.
    let mut made = Vec::new();
    for i in 0..25 {
        made.push(store.create_club(&club(&format!("asked_{i}"), 200 + i, ClubPolicy::Approval)).await.unwrap().id);
    }
    let asks = made.iter().map(|&c| {
        let store = store.clone();
        let me = ids[0];
        tokio::spawn(async move { store.join_club(c, me).await.unwrap() })
    });
    let outcomes: Vec<_> = futures_join(asks).await;
    let waiting = outcomes.iter().filter(|o| **o == stoa_store::JoinOutcome::Requested).count();
    assert_eq!(waiting, CLUB_REQUESTS_PER_PERSON as usize);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, stoa_store::JoinOutcome::Requested | stoa_store::JoinOutcome::TooManyOfYours))
    );

    // An admin invites 250 people at once to one club: 200 wait.
    let big = store.create_club(&club("big", 2, ClubPolicy::Invitation)).await.unwrap();
    let invites = (10..260).map(|i| {
        let store = store.clone();
        let (by, who) = (ids[2], ids[i]);
        tokio::spawn(async move { store.invite_to_club(big.id, by, who).await.unwrap() })
    });
    let outcomes = futures_join(invites).await;
    let invited = outcomes.iter().filter(|o| **o == InviteOutcome::Invited).count();
    assert_eq!(invited, CLUB_INVITATIONS_PER_CLUB as usize);
    assert!(outcomes.iter().all(|o| matches!(o, InviteOutcome::Invited | InviteOutcome::TooManyForClub)));

    // One person invited by 60 clubs: 50 invitations wait.
    let mut many = Vec::new();
    for i in 0..60 {
        many.push(store.create_club(&club(&format!("inviting_{i}"), 3 + i, ClubPolicy::Invitation)).await.unwrap());
    }
    let invites = many.iter().enumerate().map(|(i, c)| {
        let store = store.clone();
        let (club, by, who) = (c.id, ids[3 + i], ids[0]);
        tokio::spawn(async move { store.invite_to_club(club, by, who).await.unwrap() })
    });
    let outcomes = futures_join(invites).await;
    let invited = outcomes.iter().filter(|o| **o == InviteOutcome::Invited).count();
    assert_eq!(invited, CLUB_INVITATIONS_PER_PERSON as usize);
    assert_eq!(store.clubs_of(ids[0], true).await.unwrap().len(), 50 + waiting);
}

async fn futures_join<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let tasks: Vec<_> = tasks.collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// A database that a newer build migrated is refused when opened, with both versions named, and left as it
/// was: no migration of this build runs on it, and its data is untouched.
#[tokio::test]
async fn a_database_newer_than_this_build_is_refused_and_left_as_it_was() {
    let (store, db) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    account(&store, &invite, "alice").await;
    drop(store);
    db.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', TRUE, $1, 0)",
        &[&vec![0u8; 48]],
    )
    .await;
    let refused = stoa_store::open(db.dir.path(), db.url.as_deref()).await.err().expect("a newer database is refused");
    assert!(matches!(refused, StoreError::TooNew { found: 99999, .. }), "{refused:?}");
    let message = refused.to_string();
    assert!(message.contains("99999") && message.contains(env!("CARGO_PKG_VERSION")), "{message}");
    // Left as it was: once the future's migration is gone again, it opens with alice in it.
    db.execute("DELETE FROM _sqlx_migrations WHERE version = 99999", &[]).await;
    let store = db.open().await;
    assert!(store.credentials("alice").await.unwrap().is_some());
}

/// A migration that fails rolls back whole, and the store does not open: this build's migrations and one
/// more that makes a table and then fails leave no trace of it, and the database opens as it was.
#[tokio::test]
async fn a_migration_that_fails_rolls_back_whole_and_the_store_does_not_open() {
    let (store, db) = store().await;
    let invite = store.create_admin_invite(10).await.unwrap();
    account(&store, &invite, "alice").await;
    drop(store);
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(if db.url.is_some() {
        "migrations_postgres"
    } else {
        "migrations"
    });
    let with_a_bad_one = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&ours).unwrap().flatten() {
        std::fs::copy(entry.path(), with_a_bad_one.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(
        with_a_bad_one.path().join("0999_fails.sql"),
        "CREATE TABLE half_made (id BIGINT);\nINSERT INTO half_made (id) VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .unwrap();
    let failed = stoa_store::open_with_migrations(db.dir.path(), db.url.as_deref(), with_a_bad_one.path()).await;
    assert!(failed.is_err(), "a failing migration stops the store from opening");
    // Nothing of it stayed: no table, no record of it; and the database opens with alice in it.
    let (half_made, recorded): (bool, i64) = match &db.url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let row = sqlx::query_as(
                "SELECT to_regclass('half_made') IS NOT NULL, (SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 999)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            row
        }
        None => {
            let url = format!("sqlite://{}", db.dir.path().join("stoa.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let row = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'half_made'), \
                 (SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 999)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            row
        }
    };
    assert_eq!((half_made, recorded), (false, 0), "the failed migration left nothing");
    let store = db.open().await;
    assert!(store.credentials("alice").await.unwrap().is_some());
}
