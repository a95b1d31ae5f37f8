//! `stoa admin`: the admin console's actions from the command line, on the data folder's database. It
//! works while the server runs: actions are logged in the admins' log, which the server follows within a
//! second to carry them out in live rooms (a suspended user thrown out, a room ended).

use crate::config::CommonArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use std::sync::Arc;
use stoa_proto::{AdminSettings, RoomId, UserId};
use stoa_store::{REPORT_CONTEXT_MS, Store, admin_action};

/// The admin actions.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Copy this server's SQLite data (in --data) into an empty Postgres database (--database), checking
    /// that every table's count matches before anything is committed. Stop the server first.
    MigrateToPostgres {
        /// The data folder that holds the SQLite database [default: ./stoa-data].
        #[arg(long, env = "STOA_DATA")]
        data: Option<std::path::PathBuf>,
        /// The Postgres database to copy into: postgres://USER:PASSWORD@HOST:PORT/DB.
        #[arg(long, env = "STOA_DATABASE")]
        database: String,
    },
    /// Back up the data folder into one archive while the server runs: the SQLite database (a consistent
    /// snapshot), the recordings and the ACME account and certificates, with a manifest of their checksums.
    /// With --database (Postgres), the files only: pg_dump the database beside it.
    Backup {
        /// The data folder [default: ./stoa-data].
        #[arg(long, env = "STOA_DATA")]
        data: Option<std::path::PathBuf>,
        /// A Postgres database, if the server keeps its data there.
        #[arg(long, env = "STOA_DATABASE")]
        database: Option<String>,
        /// The archive to write (a new file).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Restore a backup into an empty data folder, whole or not at all: a damaged archive, or one made by a
    /// newer Stoa, is refused.
    Restore {
        /// The archive `stoa admin backup` wrote.
        archive: std::path::PathBuf,
        /// The data folder to restore into: empty, or not there yet.
        #[arg(long)]
        data: std::path::PathBuf,
    },
    /// Create an invite and print its URL as the last line.
    Invite {
        #[command(flatten)]
        common: CommonArgs,
        /// How many people may sign up with it.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        uses: u32,
    },
    /// List reports, newest first (open ones unless --resolved).
    Reports {
        #[command(flatten)]
        common: CommonArgs,
        /// Resolved reports instead of open ones.
        #[arg(long)]
        resolved: bool,
    },
    /// Show a report with its context: the room's chat and moderation log 10 minutes either side.
    Report {
        #[command(flatten)]
        common: CommonArgs,
        /// The report's number.
        id: i64,
    },
    /// Resolve a report with a note.
    Resolve {
        #[command(flatten)]
        common: CommonArgs,
        /// The report's number.
        id: i64,
        /// What was done and why.
        #[arg(long)]
        note: String,
    },
    /// Suspend a user: signed out everywhere, out of every live room, no sign-in.
    Suspend {
        #[command(flatten)]
        common: CommonArgs,
        /// The username.
        username: String,
        /// Why; shown to them when they try to sign in.
        #[arg(long)]
        reason: String,
    },
    /// Lift a user's suspension.
    Unsuspend {
        #[command(flatten)]
        common: CommonArgs,
        /// The username.
        username: String,
    },
    /// List the clubs, newest first, suspended ones marked.
    Clubs {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Suspend a club: hidden from everyone but the admins, its live rooms ended within a second.
    SuspendClub {
        #[command(flatten)]
        common: CommonArgs,
        /// The club's handle.
        handle: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Lift a club's suspension.
    UnsuspendClub {
        #[command(flatten)]
        common: CommonArgs,
        /// The club's handle.
        handle: String,
    },
    /// End a live room.
    EndRoom {
        #[command(flatten)]
        common: CommonArgs,
        /// The room's ID.
        room: String,
    },
    /// Show a user: suspension, reports, and who invited whom around them.
    User {
        #[command(flatten)]
        common: CommonArgs,
        /// The username.
        username: String,
    },
    /// Make a user an admin (or, with --revoke, not).
    MakeAdmin {
        #[command(flatten)]
        common: CommonArgs,
        /// The username.
        username: String,
        /// Take the admin role away instead.
        #[arg(long)]
        revoke: bool,
    },
    /// Show the live settings, or change them.
    Settings {
        #[command(flatten)]
        common: CommonArgs,
        /// Invites each user may create.
        #[arg(long)]
        invite_quota: Option<u32>,
        /// Participants a room holds.
        #[arg(long)]
        room_capacity: Option<u32>,
    },
}

/// Opens the data folder's database, refusing to create one.
async fn open(common: &CommonArgs) -> anyhow::Result<(Arc<dyn Store>, crate::config::Resolved)> {
    let resolved = common.resolve()?;
    if let Some(url) = &resolved.database {
        let store = stoa_store::open(&resolved.data, Some(url))
            .await
            .with_context(|| format!("cannot open the database {}", stoa_store::redact(url)))?;
        return Ok((store, resolved));
    }
    // A mistyped --data must not quietly create a second database that no server reads.
    if !resolved.data.join("stoa.db").exists() {
        bail!(
            "there is no Stoa database in {}; start `stoa serve --data {}` once first, or check --data",
            resolved.data.display(),
            resolved.data.display()
        );
    }
    let store = stoa_store::open(&resolved.data, None)
        .await
        .with_context(|| format!("cannot open the database in {}", resolved.data.display()))?;
    Ok((store, resolved))
}

async fn user_named(store: &dyn Store, username: &str) -> anyhow::Result<UserId> {
    store
        .user_id_by_name(&username.trim().to_ascii_lowercase())
        .await?
        .with_context(|| format!("no user named {username}"))
}

fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    time_of(secs)
}

fn time_of(secs: i64) -> String {
    // UTC, to the second, without a date library: days since the epoch to a civil date (Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

fn name(u: &stoa_proto::UserSummary) -> String {
    format!("@{} ({})", u.username, u.display_name)
}

fn print_report(r: &stoa_proto::Report) {
    let about = r.target.as_ref().map_or_else(|| "the room".to_string(), name);
    println!(
        "#{}  {}  {} reported {} for {:?} in \"{}\" ({})",
        r.id,
        when(r.created_at_ms),
        name(&r.reporter),
        about,
        r.reason,
        r.room_title,
        r.room_id
    );
    if !r.text.is_empty() {
        println!("    \"{}\"", r.text);
    }
    if let Some(at) = r.resolved_at_ms {
        let by = r.resolved_by.as_ref().map_or_else(|| "the command line".to_string(), name);
        println!("    resolved {} by {by}: {}", when(at), r.resolution_note.as_deref().unwrap_or(""));
    }
}

/// Runs an admin command.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::MigrateToPostgres { data, database } => {
            let data = data.unwrap_or_else(|| stoa_server::ServerConfig::default().data);
            anyhow::ensure!(
                stoa_store::is_postgres_url(&database),
                "--database is a postgres:// URL, not {:?}",
                stoa_store::redact(&database)
            );
            let copied = stoa_store::migrate::sqlite_to_postgres(&data, &database)
                .await
                .with_context(|| format!("cannot copy {} into {}", data.display(), stoa_store::redact(&database)))?;
            println!("{:<20} {:>10} {:>10}", "table", "SQLite", "Postgres");
            for c in &copied {
                println!("{:<20} {:>10} {:>10}", c.table, c.from, c.to);
            }
            let rows: i64 = copied.iter().map(|c| c.to).sum();
            println!(
                "Copied {rows} rows; every count matches. Start the server with --database {}",
                stoa_store::redact(&database)
            );
        }
        AdminCommand::Backup { data, database, out } => {
            let data = data.unwrap_or_else(|| stoa_server::ServerConfig::default().data);
            println!("{}", crate::backup::backup(&data, database.as_deref(), &out).await?);
        }
        AdminCommand::Restore { archive, data } => println!("{}", crate::backup::restore(&archive, &data)?),
        AdminCommand::Invite { common, uses } => {
            let (store, resolved) = open(&common).await?;
            let code = store.create_admin_invite(uses).await?;
            // The running server records the URL it is reached at; without one, assume the configured address.
            let base = match store.setting(stoa_server::PUBLIC_URL_SETTING).await? {
                Some(url) => url,
                None => resolved.public_url.unwrap_or_else(|| format!("http://{}", resolved.http)),
            };
            println!("Invite for {uses} sign-up{}:", if uses == 1 { "" } else { "s" });
            println!("{}/invite/{code}", base.trim_end_matches('/'));
        }
        AdminCommand::Reports { common, resolved } => {
            let (store, _) = open(&common).await?;
            let reports = store.reports(!resolved, None, 200).await?;
            if reports.is_empty() {
                println!("No {} reports.", if resolved { "resolved" } else { "open" });
            }
            for r in &reports {
                print_report(r);
            }
        }
        AdminCommand::Report { common, id } => {
            let (store, _) = open(&common).await?;
            let r = store.report(id).await?.with_context(|| format!("no report #{id}"))?;
            print_report(&r);
            let (from, to) = (r.created_at_ms - REPORT_CONTEXT_MS, r.created_at_ms + REPORT_CONTEXT_MS);
            if let Some(message) = r.message_id {
                println!("\nThe private message, with the ten before and after it, as written:");
                for m in store.messages_around(message, 10).await? {
                    let mark = if m.id == message { "  <- reported" } else { "" };
                    let deleted = if m.deleted { "  [deleted since]" } else { "" };
                    println!("  {}  {}: {}{deleted}{mark}", when(m.sent_at_ms), name(&m.sender), m.text);
                }
                return Ok(());
            }
            println!("\nChat, 10 minutes either side:");
            for m in store.chat_log(&r.room_id, from, to, 2000).await? {
                let deleted = m.deleted_by.as_ref().map(|d| format!("  [deleted by {}]", name(d))).unwrap_or_default();
                println!("  {}  {}: {}{deleted}", when(m.sent_at_ms), name(&m.user), m.text);
            }
            println!("\nModeration, 10 minutes either side:");
            for e in store.moderation_log(&r.room_id, from, to, 1000).await? {
                let target = e.target.as_ref().map(|t| format!(" {}", name(t))).unwrap_or_default();
                let detail = e.detail.map(|d| format!(" ({d})")).unwrap_or_default();
                println!("  {}  {} {}{target}{detail}", when(e.at_ms), name(&e.actor), e.action.as_str());
            }
        }
        AdminCommand::Resolve { common, id, note } => {
            let (store, _) = open(&common).await?;
            let note = note.trim();
            if note.is_empty() || note.chars().count() > stoa_proto::limits::ADMIN_NOTE.max {
                bail!("a note has 1 to {} characters", stoa_proto::limits::ADMIN_NOTE.max);
            }
            store.report(id).await?.with_context(|| format!("no report #{id}"))?;
            if !store.resolve_report(id, None, note).await? {
                bail!("report #{id} is already resolved");
            }
            println!("Report #{id} resolved.");
        }
        AdminCommand::Suspend { common, username, reason } => {
            let (store, _) = open(&common).await?;
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > stoa_proto::limits::ADMIN_NOTE.max {
                bail!("a reason has 1 to {} characters", stoa_proto::limits::ADMIN_NOTE.max);
            }
            let id = user_named(store.as_ref(), &username).await?;
            if !store.suspend(id, None, reason).await? {
                bail!("{username} is already suspended");
            }
            println!("{username} is suspended: signed out everywhere, and out of any live room within a second.");
        }
        AdminCommand::Unsuspend { common, username } => {
            let (store, _) = open(&common).await?;
            let id = user_named(store.as_ref(), &username).await?;
            if !store.unsuspend(id, None).await? {
                bail!("{username} is not suspended");
            }
            println!("{username} can sign in again.");
        }
        AdminCommand::Clubs { common } => {
            let (store, _) = open(&common).await?;
            let mut cursor = None;
            loop {
                let page = store.all_clubs(cursor, 200).await?;
                for c in &page {
                    let suspended = c.suspended.as_deref().map(|r| format!("  SUSPENDED: {r}")).unwrap_or_default();
                    println!(
                        "{:<20}  {:<30}  owner {:<20}  {} members{suspended}",
                        c.handle, c.name, c.owner.username, c.members
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 200 => cursor = Some(last.id),
                    _ => break,
                }
            }
        }
        AdminCommand::SuspendClub { common, handle, reason } => {
            let (store, _) = open(&common).await?;
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > stoa_proto::limits::ADMIN_NOTE.max {
                bail!("a reason has 1 to {} characters", stoa_proto::limits::ADMIN_NOTE.max);
            }
            let club = store.club(&handle).await?.ok_or_else(|| anyhow::anyhow!("no club {handle}"))?;
            if !store.suspend_club(club.id, None, Some(reason)).await? {
                bail!("{handle} is already suspended");
            }
            println!("{handle} is suspended: hidden, and its live rooms end within a second.");
        }
        AdminCommand::UnsuspendClub { common, handle } => {
            let (store, _) = open(&common).await?;
            let club = store.club(&handle).await?.ok_or_else(|| anyhow::anyhow!("no club {handle}"))?;
            if !store.suspend_club(club.id, None, None).await? {
                bail!("{handle} is not suspended");
            }
            println!("{handle} is visible again.");
        }
        AdminCommand::EndRoom { common, room } => {
            let (store, _) = open(&common).await?;
            let id = RoomId(room.clone());
            if !store.unended_rooms().await?.iter().any(|(r, _)| *r == id) {
                bail!("no live room {room}");
            }
            store.log_admin(None, admin_action::END_ROOM, &room, "").await?;
            // A server that is not running would bring the room back at its next start: it ends here too.
            store.end_room(&id).await?;
            println!("Room {room} ends.");
        }
        AdminCommand::User { common, username } => {
            let (store, _) = open(&common).await?;
            let id = user_named(store.as_ref(), &username).await?;
            let u = store.admin_user(id).await?.with_context(|| format!("no user named {username}"))?;
            println!("{}{}", name(&u.user), if u.is_admin { ", admin" } else { "" });
            println!("  signed up {}", time_of(u.created_at));
            if let Some(reason) = &u.suspended {
                println!("  SUSPENDED: {reason}");
            }
            if u.deleted {
                println!("  account deleted");
            }
            println!("  reports on them: {}", u.reports_against);
            let chain: Vec<String> = u.invited_by.iter().map(name).collect();
            println!(
                "  invited by: {}",
                if chain.is_empty() {
                    "nobody (the first account, or an admin invite)".into()
                } else {
                    chain.join(" > ")
                }
            );
            println!("  invited {}:", u.invitees.len());
            for i in &u.invitees {
                let s = if i.suspended { ", suspended" } else { "" };
                println!("    {} (invited {}{s})", name(&i.user), i.invitees);
            }
        }
        AdminCommand::MakeAdmin { common, username, revoke } => {
            let (store, _) = open(&common).await?;
            let id = user_named(store.as_ref(), &username).await?;
            if !store.set_admin(id, !revoke).await? {
                bail!("{username} {} an admin", if revoke { "is not" } else { "is already" });
            }
            println!("{username} is {} an admin.", if revoke { "no longer" } else { "now" });
        }
        AdminCommand::Settings { common, invite_quota, room_capacity } => {
            let (store, resolved) = open(&common).await?;
            let live = stoa_server::community::LiveSettings::load(
                store.as_ref(),
                resolved.invite_quota,
                resolved.room_capacity,
            )
            .await?;
            let mut settings = live.get();
            if invite_quota.is_some() || room_capacity.is_some() {
                settings = AdminSettings {
                    invite_quota: invite_quota.unwrap_or(settings.invite_quota),
                    room_capacity: room_capacity.unwrap_or(settings.room_capacity),
                };
                stoa_server::community::valid_settings(&settings).map_err(anyhow::Error::msg)?;
                stoa_server::community::save_settings(store.as_ref(), None, &settings).await?;
            }
            println!("invite_quota = {}\nroom_capacity = {}", settings.invite_quota, settings.room_capacity);
        }
    }
    Ok(())
}
